import type { ColumnType, Generated, Selectable } from 'kysely';

export type OperationType = 'plan' | 'apply' | 'destroy' | 'drift';
export type OperationStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'superseded';
type JsonOrNull = ColumnType<unknown | null, string | null | undefined, string | null>;

export interface OperationsTable {
  id: Generated<string>;
  stack_state_id: string | null;
  type: OperationType;
  status: OperationStatus;
  triggered_by: string | null;
  workflow_id: string | null;
  from_commit: string | null;
  to_commit: string | null;
  started_at: Generated<Date>;
  completed_at: Date | null;
  error_details: JsonOrNull;
  metadata: JsonOrNull;
}
export type Operation = Selectable<OperationsTable>;
