/**
 * Names, signals, queries and DTOs shared by workflow code, workers, the api and the dev tooling.
 * Sandbox-safe: imports only @temporalio/workflow (whose define* helpers work outside workflows too)
 * and types.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReviewPlan, UnitOutput } from '../activities/terraform/types';
import type { FitProblem } from './fit';

/** Custom search attributes registered on the Temporal namespace, so runs can be filtered in the Web UI. */
export const SEARCH_ATTRIBUTES = {
  StacklyStack: 'Keyword',
  StacklyState: 'Keyword',
  StacklyEnvironment: 'Keyword',
  StacklyCommit: 'Keyword',
  StacklyRunKind: 'Keyword',
  StacklyStatus: 'Keyword',
} as const;
export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/** The control worker's task queue: workflows and light activities (database, routing, git). */
export const CONTROL_TASK_QUEUE = 'stackly-control';

/** Workflow type names (registered by the control worker). */
export const WORKFLOWS = {
  push: 'pushWorkflow',
  stackRun: 'stackRunWorkflow',
  destroy: 'destroyWorkflow',
} as const;

export type RunKind = 'deploy' | 'destroy' | 'drift';

export interface RunTrigger {
  type: 'push' | 'manual' | 'drift' | 'cleanup';
  /** Who or what caused it: a user name, `github:<delivery id>`, `schedule:<id>`. */
  by: string;
  /** Author of the pushed commit (an approval policy may bar them from approving). */
  author?: string;
  deliveryId?: string;
}

/** Input of stackRunWorkflow and destroyWorkflow. */
export interface StackRunInput {
  /** stack_states.id */
  stateId: string;
  stackCodeId: string;
  /** Commit of the stack code to run (for destroy: the last deployed commit). */
  commit: string;
  kind: RunKind;
  trigger: RunTrigger;
}

/**
 * Business id of a run: one run per state, kind and commit. A second start with the same id is
 * rejected by Temporal while the first is open, which is what makes redelivered pushes harmless.
 */
export function stackRunWorkflowId(stateId: string, commit: string, kind: RunKind = 'deploy'): string {
  return `run-${kind}-${stateId}-${commit.slice(0, 12)}`;
}

/** What a run id made by {@link stackRunWorkflowId} names; undefined for any other id. */
export function parseStackRunWorkflowId(id: string): { kind: RunKind; stateId: string; commitPrefix: string } | undefined {
  const m = /^run-(deploy|destroy|drift)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-([0-9a-f]{1,12})$/.exec(id);
  return m ? { kind: m[1] as RunKind, stateId: m[2]!, commitPrefix: m[3]! } : undefined;
}

/** Workflow id of the push workflow for a delivery. */
export function pushWorkflowId(deliveryId: string): string {
  return `push-${deliveryId}`;
}

/** Input of pushWorkflow: one GitHub push delivery to the tracked branch of a registered repository. */
export interface PushWorkflowInput {
  deliveryId: string;
  accountId: string;
  repositoryId: string;
  /** The registered (normalised) repository URL: the key of stack codes and git_cache. */
  repoUrl: string;
  branch: string;
  /** `before` of the push; all zeros for a new branch. */
  before: string;
  after: string;
  forced: boolean;
  /** Author of the head commit (`name <email>` or login). */
  author?: string;
}

/** What pushWorkflow did, returned as its result (and shown in the Web UI). */
export interface PushWorkflowResult {
  commit: string;
  registered: string[];
  updated: string[];
  invalid: string[];
  deregistered: string[];
  runsStarted: string[];
  destroysStarted: string[];
  unreachableStates: string[];
}

// ---- stackRunWorkflow: progress, approvals ----

export type RunPhase =
  | 'starting' | 'waiting_for_worker' | 'planning' | 'awaiting_approval' | 'queued' | 'applying'
  | 'succeeded' | 'no_changes' | 'failed' | 'rejected' | 'cancelled';

export interface UnitView {
  status: 'pending' | 'planning' | 'awaiting_approval' | 'applying' | 'succeeded' | 'failed' | 'skipped' | 'no_changes';
  reason?: string;
  counts?: { add: number; change: number; destroy: number; replace: number };
  /** Why this unit asks for approval again: its plan does not fit the reviewed one. */
  differences?: FitProblem[];
}

export interface RunProgress {
  workflowId: string;
  kind: StackRunInput['kind'];
  phase: RunPhase;
  waitingReason?: string;
  stack?: string;
  state?: string;
  commit: string;
  review?: { counts: ReviewPlan['counts']; changes: Array<{ address: string; actions: string[] }> };
  units: Record<string, UnitView>;
  approvals: Array<{ by: string; scope: string; comment?: string }>;
  /** Root outputs; values of sensitive ones are withheld. */
  outputs?: Record<string, UnitOutput>;
  error?: string;
}

/** `groups`: the approver's groups as authenticated by the API (API_USER_GROUPS), never taken from a request body. */
export interface ApproveSignal { by: string; scope?: string; comment?: string; groups?: string[] }
export interface RejectSignal { by: string; scope?: string; reason?: string; groups?: string[] }

export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const rejectSignal = defineSignal<[RejectSignal]>('reject');
export const progressQuery = defineQuery<RunProgress>('progress');
