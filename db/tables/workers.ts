import type { ColumnType, Generated, Selectable } from 'kysely';

export interface WorkerCapabilities {
  features: string[];
  labels: Record<string, string>;
  resources: { cpus?: number; memoryMb?: number };
  version: string;
}

export interface WorkersTable {
  id: string;
  kind: 'control' | 'execution';
  task_queue: string;
  capabilities: ColumnType<WorkerCapabilities, string, string>;
  host: string | null;
  pid: number | null;
  started_at: Generated<Date>;
  last_heartbeat_at: Generated<Date>;
  stopped_at: Date | null;
  /** Random per process start: a restarted worker with the same id is a new incarnation. */
  incarnation: Generated<string | null>;
}
export type WorkerRow = Selectable<WorkersTable>;
