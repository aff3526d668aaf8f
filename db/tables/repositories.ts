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
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type Repository = Selectable<RepositoriesTable>;
