/**
 * A stack's stack.hcl as the rest of Stackly sees it: valid, with defaults applied (parsed and
 * validated by activities/hcl/stack-config.ts), or the stored error of an invalid one
 * (activities/stack-config-adapter.ts). Raw → validate → Valid: nothing else is ever passed on.
 * Types only: sandbox-safe.
 */
import type { Json } from './json';

export interface StackState {
  name: string;
  variables: Record<string, Json>;
}

/** A valid stack.hcl, defaults applied. */
export interface StackConfig {
  name: string;
  version?: string;
  environment?: string;
  execution: 'modules' | 'single';
  autoDeploy: boolean;
  onDelete: 'loose' | 'destroy';
  parallelism: number;
  requires: { features: string[]; labels: Record<string, string> };
  variables: Record<string, Json>;
  /** At least one; `default` when the file declares none. */
  states: StackState[];
  policies: string[];
  /** `driftDetected`: only when stack.hcl lists hooks for it (and absent in configs stored before it existed). */
  hooks: { prePlan: string[]; postPlan: string[]; preApply: string[]; postApply: string[]; driftDetected?: string[] };
  drift?: { schedule: string; autoRemediate: boolean };
}

/** Where and why a stack.hcl is invalid (stored in stack_codes.error). */
export interface StackConfigError {
  file: string;
  line: number | null;
  field: string | null;
  message: string;
}

export type StackConfigResult = { ok: true; config: StackConfig } | { ok: false; error: StackConfigError };
