import type { Generated, Selectable } from 'kysely';

export interface AccountsTable {
  id: Generated<string>;
  name: string;
  temporal_namespace: string;
  created_at: Generated<Date>;
}
export type Account = Selectable<AccountsTable>;
