/**
 * The ports: the activities workflow code calls, declared here and implemented by the factories of
 * activities/ (each factory's result is checked against its interface). Workflows type their
 * proxies with these; they never import activities/. Types only: sandbox-safe.
 *
 * Control worker (ControlActivities): routing, runs, run requests, git, registry, hooks.
 * Execution workers (ExecutionActivities): analysis, tofu, policies.
 */
import type { EventType } from '../../db/tables/events';
import type { OperationStatus } from '../../db/tables/operations';
import type { Decision, HookResult, Policy, Summary } from '../../policies';
import type { Requirement } from '../capabilities';
import type { RunKind, RunRequest, RunTrigger, StackRunInput } from '../definitions';
import type { DriftReport, DriftRequest } from './drift';
import type { PullRequestReport, PullRequestStacks } from './pull-request';
import type { AnalyseInput, FetchInput, PushAnalysis, RepoRef } from './git';
import type { Conflict, DeregisterResult, RegisteredStack, RegisterResult, StackRef } from './registry';
import type { RecordedApproval, RouteResult, RunContext, RunHooksInput, RunPolicies } from './run';
import type { StackConfig, StackConfigError, StackConfigResult } from './stack';
import type {
  ReviewPlan, RunRef, StackAnalysisResult, StackSource, TerraformBase, UnitApplyInput, UnitApplyResult, UnitOutput, UnitPlanApplyInput,
  UnitPlanApplyResult, UnitPlanInput, UnitPlanResult,
} from './terraform';

// ---- control worker ----

/** activities/routing.ts */
export interface RoutingActivities {
  /**
   * Picks the task queue with the most live workers among those whose capability set satisfies
   * the requirement (ties broken by name, so the choice is stable).
   */
  findTaskQueue(required: Requirement & {
    /** The run's state: routing keeps to the worker pools its repository is bound to (activities/pools.ts). */
    stateId?: string;
  }): Promise<RouteResult>;
}

/** activities/runs.ts: a run's context, operation and events. Every write is idempotent. */
export interface RunActivities {
  loadRunContext(input: StackRunInput): Promise<RunContext>;
  /**
   * Is a run of `generation` still the newest asked for this state? A registration of a newer
   * commit since (a push handled while this run waited in the queue) makes it out of date.
   */
  checkRunCurrent(input: { stateId: string; kind: RunKind; generation?: number }): Promise<{ current: boolean; reason?: string }>;
  /** Creates (or finds, on retry) the operation row of this run. */
  startOperation(input: { ctx: RunContext; workflowId: string; kind: RunKind; triggeredBy: string; status?: 'pending' | 'running' }): Promise<string>;
  updateOperation(input: { operationId: string; status: OperationStatus; error?: unknown; metadata?: Record<string, unknown> }): Promise<void>;
  /** Several events of one run in order, in one transaction (each as emitRunEvent). */
  emitRunEvents(input: {
    ctx: Pick<RunContext, 'accountId' | 'stackCodeId' | 'stateId'>;
    operationId: string;
    events: Array<{ type: EventType; payload: unknown; dedupeKey: string }>;
  }): Promise<void>;
  emitRunEvent(input: {
    ctx: Pick<RunContext, 'accountId' | 'stackCodeId' | 'stateId'>;
    operationId: string;
    type: EventType;
    payload: unknown;
    dedupeKey: string;
  }): Promise<void>;
  /**
   * The approvals and rejections the api recorded for this run's operation, and the database's clock
   * now (a question asked at `now` counts only approvals recorded after it). A run counts nothing else:
   * an approve signal only says that there is something new to read.
   */
  readApprovals(input: { operationId: string }): Promise<{ now: number; records: RecordedApproval[] }>;
  /** After a successful deploy: the state now runs this commit. After a destroy: it is gone. */
  markStateDeployed(input: { stateId: string; commit: string; kind: RunKind }): Promise<void>;
}

/** activities/run-requests.ts */
export interface RunRequestActivities {
  /**
   * Queues each run on its state's queue (started on `taskQueue`, the control queue of the caller).
   * Idempotent: the queue takes a run id once, however often the request is retried.
   */
  requestRuns(input: { taskQueue: string; requests: RunRequest[] }): Promise<{ queued: string[] }>;
}

/** activities/git.ts: the push analysis, over the worker's mirror of the repository. */
export interface GitActivities {
  /** Fetches the tracked branch (and, if needed, the pushed commit) into the bare cache. */
  fetchRepository(input: FetchInput): Promise<{ head: string | null }>;
  /**
   * Stack directories at `after`, ancestry between `before` and `after`, whether `after` is still on
   * the branch, and for each stack the registry knows: how its latest commit relates to `after` and
   * whether anything it reads (its directory, policies/, its local modules) differs. Diffing against
   * what the registry has, not against the push's `before`, is what makes pushes handled out of
   * order, or skipped, converge; judging "newer" against the branch head as fetched now is what
   * makes a force push to an older commit win.
   */
  analysePush(input: AnalyseInput): Promise<PushAnalysis>;
  /** Reads and validates the stack.hcl of each directory at `commit`. */
  loadStackConfigs(input: RepoRef & { commit: string; dirs: string[] }): Promise<Record<string, StackConfigResult>>;
  /**
   * Fills git_cache with every file at `commit` of the given directories, of policies/, and of the
   * local module directories those directories read (at any depth).
   */
  fillGitCache(input: RepoRef & { commit: string; dirs: string[] }): Promise<{ files: number; skipped: string[] }>;
  /** Commits (of deployed states) that are not reachable from the head of `branch` in the cache. */
  findUnreachableCommits(input: RepoRef & { commits: string[] }): Promise<string[]>;
  /**
   * The registered active stacks a pull request changes (its directory, policies/ or a local module
   * it reads differ between the merge base of base and head, and the head), with their active states;
   * the head fetched from `headRef` (`refs/pull/<n>/head`).
   */
  findPullRequestStacks(input: RepoRef & { accountId: string; headSha: string; baseSha: string; headRef: string }): Promise<PullRequestStacks>;
}

/** activities/pull-requests.ts: what a pull request's plans found, told to GitHub through the outbox. */
export interface PullRequestActivities {
  /**
   * Writes the pull request's comment (one per pull request, updated in place) and a status per
   * stack state on its head commit into the outbox; the comment only while `headSha` is still the
   * pull request's head (a plan of an older head says nothing). Idempotent.
   */
  recordPullRequestPlans(report: PullRequestReport): Promise<{ current: boolean }>;
}

/**
 * activities/registry.ts: stack codes and states. Each call is one transaction and idempotent;
 * every change is a compare-and-set against `expectedLatest` (a `Conflict` answer: re-plan).
 */
export interface RegistryActivities {
  /**
   * Live (active or invalid) stack codes of a repository, and for directories without one, the most
   * recently de-registered stack code (so an older push handled late does not bring it back).
   */
  listRegisteredStacks(input: { repoUrl: string }): Promise<RegisteredStack[]>;
  /** Registers a new stack code or updates an existing one to `commit`, with its declared states. */
  registerStack(input: StackRef & { config: StackConfig }): Promise<RegisterResult | Conflict>;
  /**
   * A stack directory moved within one push (removed at `fromPath`, added at `repoPath` declaring the
   * same stack name): the stack code follows it, keeping its id and its states (same ids, same state
   * keys), and is updated to `commit`. Compare-and-set on both ends: the old directory's stack code
   * must still be at `expectedFromLatest`, and the new directory must have no live stack code.
   */
  moveStack(input: StackRef & { config: StackConfig; stackCodeId: string; fromPath: string; expectedFromLatest: string }): Promise<RegisterResult | Conflict>;
  /** Marks a directory's stack code invalid (registering it as invalid when new); nothing else changes. */
  markStackInvalid(input: StackRef & { error: StackConfigError }): Promise<{ stackCodeId: string } | Conflict>;
  /** De-registers a stack code; its states become loose, or `destroying` when on_delete = "destroy". */
  deregisterStack(input: StackRef & { stackCodeId: string }): Promise<DeregisterResult | Conflict>;
  /** Active states of a repository with the commit each was last deployed from. */
  listActiveStates(input: { repoUrl: string }): Promise<Array<{ id: string; stackCodeId: string; commit: string }>>;
  /**
   * After a force push: marks active states whose deployed commit is no longer reachable from the
   * tracked branch (stack_states.metadata.commit_unreachable) and records `history_rewritten`.
   */
  markUnreachableStates(input: { accountId: string; repoUrl: string; branch: string; commits: string[]; deliveryId: string; after: string }): Promise<string[]>;
}

/** activities/hooks.ts */
export interface HookActivities {
  /**
   * Runs the hooks of `event` in priority order. A failure at pre_plan/pre_apply that is not
   * continue_on_failure stops the remaining hooks (reported as skipped) and is `blocking`: the
   * workflow aborts the run. Post-event failures never block. Hook failures are results, not
   * activity failures, so Temporal retries only a lost worker (a webhook may then be delivered
   * again with the same X-Stackly-Delivery id).
   */
  runHooks(input: RunHooksInput): Promise<HookResult[]>;
}

/** activities/drift.ts: drift checks asked of a state's queue, their results, their remediation. */
export interface DriftActivities {
  /**
   * Asks the state's queue for a drift check of its deployed commit (driftCheckWorkflow). Nothing is
   * asked (`skipped`, with the reason) when the state is not active, its stack code is not active, it
   * was never deployed, a scheduled check finds no `drift` block any more, or a check of the state is
   * already queued or running (so checks never pile up behind a long run).
   */
  requestDriftCheck(input: { stateId: string; taskQueue: string; trigger: RunTrigger }): Promise<DriftRequest>;
  /** Records a check's result: its operation (status and metadata `drift`) and one event `drift_detected` / `drift_none` / `drift_failed`. Idempotent. */
  recordDriftResult(input: { ctx: Pick<RunContext, 'accountId' | 'stackCodeId' | 'stateId'>; operationId: string; workflowId: string; report: DriftReport }): Promise<void>;
  /**
   * Asks the state's queue for a normal deploy run of the checked commit, through every gate; with
   * `auto_remediate = false` that run waits for approval. Skipped when the state moved on since (another
   * commit deployed or registered: its own run restores the code's intent). The run id is derived from
   * the check's, so a retry asks for the same run.
   */
  requestRemediation(input: { stateId: string; stackCodeId: string; commit: string; checkRunId: string; taskQueue: string }): Promise<DriftRequest>;
}

/** Light activities on the control worker (activities/index.ts createControlActivities). */
export interface ControlActivities
  extends RoutingActivities, RunActivities, RunRequestActivities, GitActivities, RegistryActivities, HookActivities, DriftActivities, PullRequestActivities {}

// ---- execution workers ----

/** activities/analysis.ts: the unit graph and the root outputs. */
export interface AnalysisActivities {
  analyzeStack(input: { source: StackSource }): Promise<StackAnalysisResult>;
  /** Outputs of the named units, read from their state objects (empty for a unit never applied). */
  readUnitOutputs(input: { run: RunRef; unitNames: string[] }): Promise<Record<string, Record<string, UnitOutput>>>;
  /**
   * The stack's root outputs: the synthesized outputs root (no resources) applied with the units'
   * outputs as inputs, in a throwaway directory with local state.
   */
  evaluateOutputs(input: TerraformBase & { unitOutputs: Record<string, Record<string, UnitOutput>> }): Promise<Record<string, UnitOutput>>;
}

/** activities/terraform/index.ts: tofu plan and apply. */
export interface TerraformActivities {
  /**
   * The review plan: the original root planned against the unit states merged into one. With
   * `destroy`, a `-destroy` plan: what a destroy run removes, shown and checked before anything is.
   */
  planReview(input: TerraformBase & { destroy?: boolean }): Promise<ReviewPlan>;
  planUnit(input: UnitPlanInput): Promise<UnitPlanResult>;
  applyUnit(input: UnitApplyInput): Promise<UnitApplyResult>;
  /**
   * Plan, and when the plan fits `approved`, apply it in the same job; otherwise the plan is saved (as
   * planUnit does) and returned with the problems. Failures once the apply has begun are not retryable.
   */
  planApplyUnit(input: UnitPlanApplyInput): Promise<UnitPlanApplyResult>;
}

/** activities/policies.ts: the policy engine at the run's commit. */
export interface PolicyActivities {
  /**
   * Validates policies/*.hcl (policy and hook blocks) at the commit and resolves the stack's
   * `policies` and `hooks`. Any invalid policy file, or a stack naming a missing policy or hook,
   * fails the run (non-retryable, PolicyConfigError) with file:line: field.
   */
  loadRunPolicies(input: { source: StackSource }): Promise<RunPolicies>;
  /**
   * post_plan evaluation over the review plan JSON (read from S3 and decrypted by the worker). Returns only
   * decisions (policy, rule, outcome, message, address) and their summary.
   */
  evaluatePlanPolicies(input: { policies: Policy[]; planJsonKey: string; now: number; environment?: string; state?: string }): Promise<{ decisions: Decision[]; summary: Summary }>;
}

/** Heavy activities on execution workers (activities/index.ts createExecutionActivities). */
export interface ExecutionActivities extends AnalysisActivities, TerraformActivities, PolicyActivities {}
