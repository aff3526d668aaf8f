/**
 * The registry of stack codes and states as pushWorkflow sees it (activities/registry.ts). Every
 * change is a compare-and-set: a `Conflict` answer means another push moved the stack code since the
 * caller looked. Types only: sandbox-safe.
 */

export interface StackRef {
  accountId: string;
  repositoryId: string | null;
  repoUrl: string;
  /** Stack directory ("." for the repository root). */
  repoPath: string;
  commit: string;
  deliveryId: string;
  /**
   * The latest commit of the directory's live stack code the caller planned against (null: it saw no
   * live stack code). When the registry holds something else now, nothing changes and the result is
   * a conflict. Omitted: no check.
   */
  expectedLatest?: string | null;
}

/** Another push changed the stack code since the caller looked: re-plan. */
export interface Conflict {
  conflict: true;
  latestCommit: string | null;
}

export interface RegisteredStack {
  id: string;
  repoPath: string;
  /** The stack's name (stack.hcl), or the directory's basename for a stack that was never valid. */
  name: string;
  status: 'active' | 'invalid' | 'deregistered';
  currentCommit: string;
  /**
   * The newest commit the registry has seen for it: current_commit, the commit that made it
   * invalid, or (de-registered) the commit that removed it.
   */
  latestCommit: string;
}

export interface RegisterResult {
  stackCodeId: string;
  kind: 'new' | 'updated' | 'unchanged';
  /**
   * Whether this delivery made the change (or is retrying it): false when another delivery of the
   * same commit (the same push sent to two hooks) registered it first, whose runs are already asked for.
   */
  madeByThisDelivery?: boolean;
  /** Active states after the change, with the generation a run of this commit carries (newer supersedes older). */
  states: Array<{ id: string; name: string; generation: number }>;
  /** States that are no longer declared and became loose. */
  loosened: string[];
}

export interface DeregisterResult {
  stackCodeId: string;
  onDelete: 'loose' | 'destroy';
  /** States to destroy (on_delete = "destroy"), with the commit each was last deployed from. */
  destroy: Array<{ id: string; commit: string; generation: number }>;
  loosened: string[];
}
