/**
 * A pull request's review plans (workflows/pull-request.ts and activities/pull-requests.ts). Types
 * only: sandbox-safe.
 */
import type { PlanCounts } from './terraform';
import type { RepoRef } from './git';

/** Input of pullRequestPlanWorkflow: one pull_request delivery (opened, synchronize, reopened) of a tracked, GitHub-connected repository. */
export interface PullRequestPlanInput extends RepoRef {
  deliveryId: string;
  accountId: string;
  repositoryId: string;
  number: number;
  /** The pull request's head commit (planned) and its base branch's commit (compared against, through their merge base). */
  headSha: string;
  baseSha: string;
  /** `refs/pull/<n>/head`: where the head commit is fetched from. */
  headRef: string;
  /** The GitHub login that opened or pushed. */
  sender?: string;
}

/** A registered stack the pull request changes, with its active states. */
export interface PullRequestTarget {
  stackCodeId: string;
  stack: string;
  repoPath: string;
  states: Array<{ id: string; name: string }>;
}

export interface PullRequestStacks {
  /** The merge base of head and base (what "changed" is measured from), or the base when unknown. */
  mergeBase: string;
  targets: PullRequestTarget[];
  /** Stack directories the pull request adds (not registered: planned after the merge registers them). */
  newStacks: string[];
  /** Registered stacks the pull request removes. */
  removedStacks: string[];
}

/** One policy decision as shown on the pull request (no values). */
export interface PullRequestDecision { policy: string; rule: string; outcome: string; message: string; address?: string }

/** One stack state's review plan of the pull request's head. */
export interface PullRequestPlanResult {
  stackCodeId: string;
  stack: string;
  state: string;
  stateId: string;
  repoPath: string;
  status: 'pending' | 'planned' | 'failed' | 'cancelled';
  counts?: PlanCounts;
  /** Addresses and actions of the real changes; never values. */
  changes?: Array<{ address: string; actions: string[] }>;
  decisions?: PullRequestDecision[];
  error?: string;
}

export interface PullRequestReport {
  /** The account of the repository (checked: activities act only in their workflow's account). */
  accountId: string;
  repositoryId: string;
  number: number;
  headSha: string;
  workflowId: string;
  phase: 'planning' | 'done' | 'cancelled';
  results: PullRequestPlanResult[];
  newStacks: string[];
  removedStacks: string[];
}
