/**
 * The push analysis of a repository (the control worker's git activities, activities/git.ts), as
 * pushWorkflow sees it. Types only: sandbox-safe.
 */

/** Which repository, and how to fetch it when a commit is missing from this worker's cache. */
export interface RepoRef {
  repositoryId: string | null;
  repoUrl: string;
  branch: string;
}

/**
 * The delivery a push analysis is for: a pushed commit that is not reachable from the tracked branch
 * after fetching is refused there (the delivery `refused` with the reason, a `push_refused` event),
 * before anything is registered or run. Absent in pushes started before it existed.
 */
export interface PushDeliveryRef {
  deliveryId: string;
  accountId: string;
}

export interface FetchInput extends RepoRef {
  /** Commits that must be present afterwards (the pushed `after`). */
  commits: string[];
  /** A push's fetch: a commit that cannot be fetched is refused (see analysePush), not a failure. */
  delivery?: PushDeliveryRef;
}

/** A stack directory the registry knows, with the newest commit the registry has seen for it. */
export interface KnownStack {
  repoPath: string;
  /** current_commit, or the commit that made it invalid / de-registered it. */
  latestCommit: string;
}

export interface AnalyseInput extends RepoRef {
  before: string | null;
  after: string;
  known?: KnownStack[];
  /** Refuse (and record) an `after` that is not on the tracked branch: `afterOnBranch` false, nothing else analysed. */
  delivery?: PushDeliveryRef;
}

/**
 * How a known stack's latest commit L relates to the pushed commit A: `same` (L = A), `behind` (L is
 * an ancestor of A: A is newer), `ahead` (A is a strict ancestor of L *and L is still on the tracked
 * branch*: this push is older than what the registry has, e.g. deliveries handled out of order),
 * `diverged` (neither; or L is newer than A but no longer reachable from the branch head, i.e. it
 * was force-pushed away: the tree at A wins), `unknown` (L cannot be fetched any more).
 */
export type CommitRelation = 'same' | 'behind' | 'ahead' | 'diverged' | 'unknown';

export interface KnownStackAnalysis {
  relation: CommitRelation;
  /**
   * Something differs between L and A under the stack directory, under policies/, or under a local
   * module directory the stack reads at A or at L (at any depth). True when unknown: L missing, or
   * a module file that does not parse, or module calls nested too deep.
   */
  touched: boolean;
}

export interface PushAnalysis {
  /** Directories holding a stack.hcl at `after` ("." for the repository root). */
  stackDirs: string[];
  /** Whether `before` is an ancestor of `after`; null when `before` is unknown. */
  beforeIsAncestor: boolean | null;
  /**
   * Whether `after` is reachable from the tracked branch's head as fetched during this analysis
   * (true when it is the head). False: the push was overtaken by a force push that dropped `after`
   * (or the branch is gone), so registering its commit would put commits that are not on the branch
   * into the registry.
   */
  afterOnBranch: boolean;
  /** Per known stack directory (KnownStack.repoPath). */
  known: Record<string, KnownStackAnalysis>;
}
