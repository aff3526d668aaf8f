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
  /** Prefix of this state's per-unit state objects: `<account>/<state-id>/` (common/state-keys.ts). Never changes. */
  tf_state_key: string;
  /** The name-derived prefix its objects had before migration 0002, until they are moved (db/state-objects.ts). */
  legacy_tf_state_key: Generated<string | null>;
  /** Grows with every registration of a new commit: orders the runs of this state (newer supersedes older). */
  generation: ColumnType<string, string | number | undefined, string | number>;
  variables: Json;
  metadata: Json;
  status: StackStateStatus;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type StackState = Selectable<StackStatesTable>;
