/**
 * The contract between StackRunWorkflow and the activities of execution workers (analysis, tofu).
 * Types only, so workflow code can import them. Every value here is plain JSON (activity inputs and
 * results, encrypted in Temporal history by the payload codec).
 */
import type { StackWiring, UnitGraph } from '../graph-types';

/** Where the stack's code is: repository, commit, and the stack's directory in the repository. */
export interface StackSource {
  repoUrl: string;
  commit: string;
  /** Repository-relative directory of the stack ("" for the repository root). */
  stackPath: string;
  /**
   * The registered repository (repositories.id), whose clone credentials the execution worker
   * fetches with; without it the fetch has none (a public or local repository).
   */
  repositoryId?: string | null;
  /**
   * Where the commit is when it is on no branch: a pull request's head (`refs/pull/<n>/head`),
   * fetched when the worker does not have the commit yet. Absent for runs of the tracked branch.
   */
  ref?: string;
}

/** Identity of a run, for state keys, plan and log object keys, and lock ownership. */
export interface RunRef {
  account: string;
  /** Names, for messages only: never part of a key. */
  stack: string;
  state: string;
  /** stack_states.id */
  stateId: string;
  /** Prefix of the state's objects in the bucket, `<account>/<state-id>/` (stack_states.tf_state_key). */
  statePrefix: string;
  /** Temporal workflow id of the run. */
  runId: string;
}

/** A stack analysed at a commit: its units, and how outputs flow into inputs between them. */
export interface StackAnalysisResult {
  units: UnitGraph;
  wiring: StackWiring;
}

export interface TerraformBase {
  source: StackSource;
  run: RunRef;
  units: UnitGraph;
  /** The stack state's Terraform variables (stack.hcl `variables` merged with the state's). */
  variables: Record<string, unknown>;
}

/** One resource change from `tofu show -json` (managed and data). */
export interface ResourceChange {
  address: string;
  mode: 'managed' | 'data';
  type: string;
  /** e.g. ["create"], ["update"], ["delete"], ["delete","create"], ["no-op"], ["read"]. */
  actions: string[];
  /** The planned values after the change (null for delete). */
  after: unknown;
  /** Same shape as `after`, true where the value is unknown until apply. */
  afterUnknown: unknown;
}

export interface PlanCounts {
  add: number;
  change: number;
  destroy: number;
  replace: number;
}

export interface ReviewPlan {
  changes: ResourceChange[];
  counts: PlanCounts;
  /** S3 key of the encrypted review plan JSON (for the UI/API to show in full). */
  planJsonKey: string;
  /** S3 key of the redacted log. */
  logKey: string;
}

export interface UnitPlanInput extends TerraformBase {
  unit: string;
  /** Input variable name → value, from the upstream units' outputs (per the synthesis wiring). */
  inputs: Record<string, unknown>;
  /**
   * Input variable name → the cty type of the upstream output (as `tofu output -json` gives it), so
   * the unit declares its inputs with exact types: a set stays a set, a map a map (JSON alone would
   * turn both into tuples/objects, which `for_each` and functions treat differently).
   */
  inputTypes?: Record<string, unknown>;
  destroy?: boolean;
  /** A drift check's plan: `-detailed-exitcode` (exit 2 = changes is a result, not a failure). */
  drift?: boolean;
}

export interface UnitOutput {
  value: unknown;
  sensitive: boolean;
  /** cty type JSON from `tofu output -json` (`"string"`, `["set","string"]`, …). */
  type?: unknown;
}

export interface UnitPlanResult {
  unit: string;
  changes: ResourceChange[];
  counts: PlanCounts;
  hasChanges: boolean;
  /** S3 key of the encrypted saved plan file. */
  planKey: string;
  logKey: string;
  /** When there are no changes: the unit's current outputs (nothing to apply). */
  outputs?: Record<string, UnitOutput>;
  /** Drift plans: tofu's `-detailed-exitcode` (0 no changes, 2 changes). */
  exitCode?: number;
}

/**
 * planApplyUnit: plan the unit and, when that plan fits what was approved (workflows/fit.ts), apply
 * that very plan in the same job (one checkout, one `tofu init`, the plan file never leaves the job).
 */
export interface UnitPlanApplyInput extends UnitPlanInput {
  /** The approved changes of this unit the plan must fit: the review's, or a difference a human approved. */
  approved: ResourceChange[];
  /** Planned again after an apply that may have begun lost its worker (fit: `resumed`). */
  resumed?: boolean;
  /** The run's attempt at this unit (sent back with unitApplyingSignal). */
  attempt?: number;
}

export interface UnitPlanApplyResult {
  /** The plan; `planKey` holds the saved plan only when it was not applied here and has changes. */
  plan: UnitPlanResult;
  /** The plan fitted and was applied: the outputs. */
  applied?: UnitApplyResult;
  /** The plan has changes that do not fit what was approved: why (the run asks a human). */
  problems?: Array<{ address: string; reason: string }>;
}

export interface UnitApplyInput extends UnitPlanInput {
  planKey: string;
}

export interface UnitApplyResult {
  unit: string;
  outputs: Record<string, UnitOutput>;
  logKey: string;
}
