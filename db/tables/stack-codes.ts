import type { ColumnType, Generated, Selectable } from 'kysely';

export type StackCodeStatus = 'active' | 'invalid' | 'deregistered';
type Json = ColumnType<unknown, string, string>;

export interface StackCodesTable {
  id: Generated<string>;
  account_id: string;
  repository_id: string | null;
  repo_url: string;
  repo_path: string;
  name: string;
  current_commit: string;
  /** The validated stack.hcl (JSON). Insert as a JSON string. */
  config: Json;
  status: StackCodeStatus;
  /** For invalid stack codes: { file, line, field, message }. */
  error: ColumnType<unknown | null, string | null, string | null>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type StackCode = Selectable<StackCodesTable>;
