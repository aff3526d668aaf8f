/**
 * Names, signals, queries and DTOs shared by workflow code, workers, the api and the dev tooling.
 * Sandbox-safe: imports only @temporalio/workflow (whose define* helpers work outside workflows too)
 * and types.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReviewPlan, UnitOutput } from './model/terraform';
import type { DriftReport } from './model/drift';
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
  stateQueue: 'stateQueueWorkflow',
  /** A drift check of one state: plans every unit at the deployed commit (a run in the state's queue). */
  drift: 'driftCheckWorkflow',
  /** What a state's drift schedule starts: asks the state's queue for a drift check. */
  driftSchedule: 'driftScheduleWorkflow',
  /** A pull request's review plans (speculative: never applies, never locks, never in a state's queue). */
  pullRequestPlan: 'pullRequestPlanWorkflow',
} as const;

export type RunKind = 'deploy' | 'destroy' | 'drift';

export interface RunTrigger {
  type: 'push' | 'manual' | 'drift' | 'cleanup' | 'pull_request';
  /** Who or what caused it: a user name, `github:<delivery id>`, `schedule:<id>`. */
  by: string;
  /** Author of the pushed commit, or the user who started the run (an approval policy may bar them from approving). */
  author?: string;
  /** The GitHub login that pushed (a push's run: also barred where the author is). */
  pusher?: string;
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
  /**
   * stack_states.generation when the run was asked for: a registration of a newer commit makes it
   * grow, so a run of an older generation is superseded by one of a newer (absent: runs started
   * before the state queue existed).
   */
  generation?: number;
  /** Set by the state's queue workflow that started this run: wait for its turn before planning. */
  queue?: QueueTicket;
}

/** How a run started by the state queue knows its queue. */
export interface QueueTicket {
  /** The state queue's workflow id ({@link stateQueueWorkflowId}). */
  workflowId: string;
  /** The run it waits for when it starts (undefined: none, its turn comes at once). */
  waitingFor?: string;
}

/** A request to the state queue: start this run and give it its turn when the runs before it are done. */
export interface RunRequest {
  /** The run's own workflow id, chosen by the requester ({@link newRunId}). */
  runId: string;
  workflowType: typeof WORKFLOWS.stackRun | typeof WORKFLOWS.destroy | typeof WORKFLOWS.drift;
  input: StackRunInput;
}

/** The Temporal Schedule of a state's drift checks (one per state whose stack.hcl has a `drift` block). */
export function driftScheduleId(stateId: string): string {
  return `drift-${stateId}`;
}

/** Input of driftScheduleWorkflow, the action of a state's drift schedule. */
export interface DriftScheduleInput {
  stateId: string;
}

/** The queue of one state: its workflow id. One per state; it ends when it has nothing left to do. */
export function stateQueueWorkflowId(stateId: string): string {
  return `state-${stateId}`;
}

/**
 * The id of a new run: `run-<kind>-<state id>-<commit prefix>-<suffix>`. Every run has its own (a
 * re-run of a commit is a new run); `suffix` is unique per request (a random word, or derived from
 * the push delivery so a retried request names the same run).
 */
export function newRunId(kind: RunKind, stateId: string, commit: string, suffix: string): string {
  if (!/^[a-z0-9]{4,32}$/.test(suffix)) throw new Error(`run id suffix "${suffix}" must be 4-32 of [a-z0-9]`);
  return `run-${kind}-${stateId}-${commit.slice(0, 12)}-${suffix}`;
}

/**
 * The id of runs started before every run had its own: one per state, kind and commit. Kept because
 * the api still finds such runs by the state their id names.
 */
export function stackRunWorkflowId(stateId: string, commit: string, kind: RunKind = 'deploy'): string {
  return `run-${kind}-${stateId}-${commit.slice(0, 12)}`;
}

/** What a run id made by {@link newRunId} or {@link stackRunWorkflowId} names; undefined for any other id. */
export function parseStackRunWorkflowId(id: string): { kind: RunKind; stateId: string; commitPrefix: string } | undefined {
  const m = /^run-(deploy|destroy|drift)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-([0-9a-f]{1,12})(?:-[a-z0-9]{4,32})?$/.exec(id);
  return m ? { kind: m[1] as RunKind, stateId: m[2]!, commitPrefix: m[3]! } : undefined;
}

/** Workflow id of the plans of a pull request's delivery (opened, synchronize, reopened). */
export function pullRequestPlanWorkflowId(deliveryId: string): string {
  return `pr-plan-${deliveryId}`;
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
  /** `pusher.name` of the push: the GitHub login of who pushed. */
  pusher?: string;
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
  /** Stack directories that moved (`from` → `to`); absent in results of pushes handled before moves existed. */
  moved?: Array<{ from: string; to: string }>;
}

// ---- stackRunWorkflow: progress, approvals ----

export type RunPhase =
  | 'starting' | 'waiting_for_worker' | 'planning' | 'awaiting_approval' | 'queued' | 'applying'
  | 'succeeded' | 'no_changes' | 'failed' | 'rejected' | 'cancelled' | 'superseded';

/** Phases a run ends in. */
export const FINAL_PHASES: readonly RunPhase[] = ['succeeded', 'no_changes', 'failed', 'rejected', 'cancelled', 'superseded'];

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
  /** While queued behind another run of the same state: that run. */
  waitingFor?: string;
  /** Ended `superseded`: the newer run that took its place. */
  supersededBy?: string;
  /** A drift check (kind `drift`): what it found, once it has ended. */
  drift?: DriftReport;
}

/**
 * Approve and reject signals are nudges: a run reads the approvals the api recorded in Postgres and
 * believes nothing a signal says (runs started before that counted these fields; see RunSession).
 */
export interface ApproveSignal { by: string; scope?: string; comment?: string; groups?: string[] }
export interface RejectSignal { by: string; scope?: string; reason?: string; groups?: string[] }

/** A newer run of the state asks this one to step aside (honoured only before it begins to apply). */
export interface SupersedeSignal { by: string; commit: string; reason: string }

/** What the state queue shows: the run that has its turn and those waiting, in order. */
export interface QueueView {
  stateId: string;
  current?: { runId: string; kind: RunKind; commit: string; generation: number };
  waiting: Array<{ runId: string; kind: RunKind; commit: string; generation: number }>;
}

export const approveSignal = defineSignal<[ApproveSignal]>('approve');
/** To the state queue: start this run and queue it. Sent with signal-with-start. */
export const enqueueRunSignal = defineSignal<[RunRequest]>('enqueueRun');
/** From the state queue to a waiting run: its turn has come. */
export const turnSignal = defineSignal('turn');
/** From the state queue to a waiting run: the run it now waits for. */
export const queuePositionSignal = defineSignal<[{ waitingFor: string }]>('queuePosition');
export const supersedeSignal = defineSignal<[SupersedeSignal]>('supersede');
export const queueQuery = defineQuery<QueueView>('queue');
export const rejectSignal = defineSignal<[RejectSignal]>('reject');
/**
 * Sent by planApplyUnit to its run when the plan it made fits and tofu is about to apply it: the unit
 * shows as applying, and should its worker die now, the unit is planned again as one that may be
 * partly applied (workflows/fit.ts `resumed`).
 */
export const unitApplyingSignal = defineSignal<[{ unit: string; attempt?: number }]>('unitApplying');
export const progressQuery = defineQuery<RunProgress>('progress');
