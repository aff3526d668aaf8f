/**
 * What a stack run learns from its control activities (its context, the task queue of a matching
 * worker, the hook runner's input) and from the execution workers (its policies and hooks). Types
 * only: sandbox-safe.
 */
import type { ExtraGates, HookDefinition, HookEvent, HookRunContext, Policy, RunHooks } from '../../policies';
import type { StackConfig } from './stack';

/** Everything the workflow needs to know about the stack state it runs. */
export interface RunContext {
  accountId: string;
  account: string;
  stackCodeId: string;
  stack: string;
  stateId: string;
  state: string;
  /** Prefix of the state's objects in the bucket: `<account>/<state-id>/`. */
  stateKeyPrefix: string;
  environment: string;
  repoUrl: string;
  /** The registered repository (its clone credentials, for private repositories); null for one registered without. */
  repositoryId: string | null;
  stackPath: string;
  commit: string;
  /** Commit deployed before this run. */
  fromCommit: string;
  config: StackConfig;
  variables: Record<string, unknown>;
  /** The commit deployed last is no longer on the tracked branch (history rewritten): the run needs approval. */
  deployedCommitUnreachable: boolean;
  /**
   * Who may not approve this run where a policy bars its author: the user who started it, or, for a
   * push, the pusher and the head commit's author (each GitHub login also as the Stackly user it maps
   * to). Absent in histories of runs started before it existed.
   */
  authors?: string[];
  /**
   * Why this run waits for approval whatever auto_deploy says (a drift remediation of a stack with
   * `auto_remediate = false`); absent otherwise (and in runs started before it existed).
   */
  approvalRequired?: string;
  /**
   * Gates the run's own commit cannot drop (issue 15): the account's policies that match the stack,
   * and the deployed commit's policies and hooks when it differs from the run's commit; merged with
   * the run's own by policies/stricter.ts. `config.autoDeploy` and `config.drift.autoRemediate` are
   * already the stricter of both commits'. Absent in runs started before it existed.
   */
  gates?: ExtraGates;
}

/** An approval or rejection recorded by the api (db approvals), as a run reads it back. */
export interface RecordedApproval {
  by: string;
  /** The approver's groups when they approved, from their credential. */
  groups: string[];
  scope: string;
  decision: 'approve' | 'reject';
  comment: string | null;
  /** When it was recorded, in epoch ms of the database's clock. */
  at: number;
}

export interface RunPolicies {
  /** The stack's resolved policies, in the order stack.hcl names them. */
  policies: Policy[];
  /** stack.hcl `environment`, for policies' `environment` match. */
  environment?: string;
  /**
   * The hooks stack.hcl lists, resolved to their definitions (`hook` blocks of policies/*.hcl or
   * built-ins) per event, in execution order. Definitions name secrets' environment variables only.
   */
  hooks: RunHooks;
}

export interface RunHooksInput {
  event: HookEvent;
  hooks: HookDefinition[];
  context: HookRunContext;
}

/** The task queue of live workers that can run a stack's requirements, or why there is none. */
export type RouteResult =
  | { ok: true; taskQueue: string; workers: string[] }
  | { ok: false; reason: string };
