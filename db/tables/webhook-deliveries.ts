import type { ColumnType, Generated, Selectable } from 'kysely';

export type DeliveryStatus = 'received' | 'started' | 'ignored' | 'failed';

export interface WebhookDeliveriesTable {
  /** X-GitHub-Delivery */
  delivery_id: string;
  event: string;
  repository_id: string | null;
  status: DeliveryStatus;
  reason: string | null;
  workflow_id: string | null;
  payload: ColumnType<unknown | null, string | null, string | null>;
  received_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
