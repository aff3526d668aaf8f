import type { Generated, Selectable } from 'kysely';

export interface AccountsTable {
  id: Generated<string>;
  name: string;
  temporal_namespace: string;
  /** The account's own Vault Transit key (payloads of its namespace). */
  transit_key: Generated<string | null>;
  created_at: Generated<Date>;
}
export type Account = Selectable<AccountsTable>;
