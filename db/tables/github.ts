import type { Generated, Selectable } from 'kysely';

export type GithubNotificationKind = 'status' | 'comment';
/** GitHub's commit status states. */
export type GithubStatusState = 'pending' | 'success' | 'failure' | 'error';

/** The outbox of what GitHub is to be told (migration 0006): one row per repository and key, the latest state wins. */
export interface GithubNotificationsTable {
  id: Generated<string>;
  repository_id: string;
  kind: GithubNotificationKind;
  /** `status:<sha>:<context>` or `comment:<pr number>`. */
  key: string;
  sha: string | null;
  context: string | null;
  pr_number: number | null;
  state: GithubStatusState | null;
  description: string | null;
  /** The run (workflow id) the status links to. */
  run_id: string | null;
  /** A comment's markdown. */
  body: string | null;
  /** Connected as a GitHub App: the check run mirroring this status. */
  check_run_id: string | null;
  /** Grows with every new state; delivered when delivered_version = version. */
  version: Generated<string>;
  delivered_version: string | null;
  pending: Generated<boolean>;
  attempts: Generated<number>;
  next_attempt_at: Generated<Date>;
  /** A notifier took it until then (another one leaves it alone). */
  leased_until: Date | null;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type GithubNotification = Selectable<GithubNotificationsTable>;

/** A pull request of a registered repository: its head, its plan workflow, the comment Stackly keeps on it. */
export interface PullRequestsTable {
  repository_id: string;
  number: number;
  state: 'open' | 'closed';
  head_sha: string;
  base_sha: string;
  workflow_id: string | null;
  comment_id: string | null;
  updated_at: Generated<Date>;
}
export type PullRequest = Selectable<PullRequestsTable>;
