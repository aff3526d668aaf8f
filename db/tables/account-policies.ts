import type { ColumnType, Generated, Selectable } from 'kysely';

type Json = ColumnType<unknown, string, string>;

/** A policy an admin set for the account (PUT /api/policies/:name), applied to the stacks its selector matches. */
export interface AccountPoliciesTable {
  id: Generated<string>;
  account_id: string;
  name: string;
  /** The HCL of one `policy` block, as sent. */
  source: string;
  /** The validated policy (policies/types.ts Policy). */
  policy: Json;
  /** policies/stricter.ts PolicySelector. */
  selector: Json;
  updated_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type AccountPolicy = Selectable<AccountPoliciesTable>;
