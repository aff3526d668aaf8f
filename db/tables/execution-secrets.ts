/** Issue 15: secret variables, worker pool bindings, hook address allow-list and hook env grants. */
import type { Generated, Selectable } from 'kysely';

export type SecretScope = 'state' | 'stack_code';

export interface SecretVariablesTable {
  id: Generated<string>;
  account_id: string;
  scope: SecretScope;
  /** stack_states.id or stack_codes.id, per scope. */
  scope_id: string;
  /** A Terraform identifier: the root variable it gives a value to. */
  name: string;
  /** Vault Transit ciphertext (the account's key) of the value, bound to account, scope and name. */
  value_enc: string;
  updated_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type SecretVariableRow = Selectable<SecretVariablesTable>;

export interface WorkerPoolBindingsTable {
  id: Generated<string>;
  account_id: string;
  /** null: the account's binding, for its repositories without one of their own. */
  repository_id: string | null;
  /** A pool: the value of the `pool` label of the workers in it. */
  pool: string;
  created_by: string;
  created_at: Generated<Date>;
}
export type WorkerPoolBindingRow = Selectable<WorkerPoolBindingsTable>;

export interface HookAddressAllowlistTable {
  id: Generated<string>;
  account_id: string;
  cidr: string;
  created_by: string;
  created_at: Generated<Date>;
}
export type HookAddressAllowRow = Selectable<HookAddressAllowlistTable>;

export interface HookEnvGrantsTable {
  id: Generated<string>;
  account_id: string;
  repository_id: string;
  env_name: string;
  created_by: string;
  created_at: Generated<Date>;
}
export type HookEnvGrantRow = Selectable<HookEnvGrantsTable>;
