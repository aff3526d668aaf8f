import type { ColumnType, Generated, Selectable } from 'kysely';

export type StackStateStatus = 'active' | 'loose' | 'destroying' | 'destroyed';
type Json = ColumnType<unknown, string, string>;

export interface StackStatesTable {
  id: Generated<string>;
  account_id: string;
  /** Null while loose. */
  stack_code_id: string | null;
  name: string;
  /** The commit last deployed. */
  commit_hash: string;
  /** Prefix of this state's per-unit state objects: <account>/<stack>/<state>/ */
  tf_state_key: string;
  variables: Json;
  metadata: Json;
  status: StackStateStatus;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type StackState = Selectable<StackStatesTable>;
