import type { ColumnType, Generated, Selectable } from 'kysely';

export const EVENT_TYPES = [
  'module_registered', 'module_updated', 'module_deregistered', 'module_invalid',
  'policy_check', 'plan_initiated', 'plan_completed', 'plan_failed',
  'approval_required', 'approval_received', 'approval_rejected',
  'deploy_initiated', 'activity_started', 'activity_completed', 'activity_failed',
  'deploy_completed', 'deploy_failed', 'run_cancelled', 'worker_wait',
  'history_rewritten', 'state_loose', 'destroy_initiated', 'destroy_completed', 'drift_detected', 'drift_none', 'drift_failed',
  'hook_completed', 'hook_failed',
  'run_queued', 'run_superseded', 'module_moved', 'state_unlocked',
  'push_refused', 'run_refused',
  'secret_variable_set', 'secret_variable_deleted',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface EventsTable {
  id: Generated<string>;
  account_id: string | null;
  stack_code_id: string | null;
  stack_state_id: string | null;
  operation_id: string | null;
  type: EventType;
  payload: ColumnType<unknown, string, string>;
  dedupe_key: string | null;
  created_at: Generated<Date>;
}
export type StoredEvent = Selectable<EventsTable>;
