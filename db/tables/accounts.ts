import type { Generated, Selectable } from 'kysely';

export type AccountStatus = 'provisioning' | 'ready';

export interface AccountsTable {
  id: Generated<string>;
  name: string;
  temporal_namespace: string;
  /** The account's own Vault Transit key (payloads of its namespace). */
  transit_key: Generated<string | null>;
  /** `provisioning` until its Transit key and Temporal namespace exist (POST /api/accounts), then `ready`. */
  status: Generated<AccountStatus>;
  created_at: Generated<Date>;
}
export type Account = Selectable<AccountsTable>;
