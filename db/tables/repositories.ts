import type { Generated, Selectable } from 'kysely';

export interface RepositoriesTable {
  id: Generated<string>;
  account_id: string;
  url: string;
  tracked_branch: Generated<string>;
  /** Vault Transit ciphertext of the webhook secret. */
  webhook_secret_enc: string | null;
  /** Vault Transit ciphertext of the clone credentials (JSON). */
  credentials_enc: string | null;
  /** Vault Transit ciphertext of the GitHub connection (JSON: a GitHub App installation or a token). */
  github_auth_enc: Generated<string | null>;
  /** `owner/name` on GitHub (statuses, checks, comments go there). */
  github_repository: Generated<string | null>;
  /** GitHub's REST API base URL (default https://api.github.com). */
  github_api_url: Generated<string | null>;
  /** Plan pull requests whose head is in another repository (a fork: code of strangers). */
  allow_fork_prs: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type Repository = Selectable<RepositoriesTable>;
