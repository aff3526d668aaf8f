/**
 * Drift checks (workflows/drift.ts, activities/drift.ts): what a check found and how its
 * remediation was asked for. Types only: sandbox-safe. No attribute values anywhere: an address, its
 * resource type and the actions tofu would take to restore the code's intent.
 */
import type { PlanCounts } from './terraform';

/** One resource whose real state differs from what the deployed code says. */
export interface DriftResource {
  unit: string;
  address: string;
  type: string;
  /** What tofu would do to restore the code's intent: ["create"], ["update"], ["delete","create"], … */
  actions: string[];
}

export type DriftOutcome = 'drift' | 'none' | 'failed';

/** What a drift check found (stored in its operation's metadata `drift`, shown by GET /api/states/:id/drift). */
export interface DriftReport {
  outcome: DriftOutcome;
  /** The deployed commit that was checked. */
  commit: string;
  resources: DriftResource[];
  counts: PlanCounts;
  /** Per unit: clean, drifted, or failed with a reason. */
  units: Record<string, { status: 'clean' | 'drift' | 'failed'; reason?: string }>;
  /** Why the check failed (outcome `failed`). */
  reason?: string;
  /** Drift found: the run asked for to restore it, or why none was. */
  remediation?: DriftRemediation;
}

export interface DriftRemediation {
  runId?: string;
  /** The run waits for approval: stack.hcl says `auto_remediate = false`. */
  needsApproval?: boolean;
  /** Why no run was asked for. */
  skipped?: string;
}

/** Asking for a drift check (or a remediation run): the run id queued, or why nothing was. */
export type DriftRequest = { runId: string; needsApproval?: boolean } | { skipped: string };
