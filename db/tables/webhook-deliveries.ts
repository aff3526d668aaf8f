import type { ColumnType, Generated, Selectable } from 'kysely';

export type DeliveryStatus = 'received' | 'started' | 'ignored' | 'failed' | 'refused';

export interface WebhookDeliveriesTable {
  /** X-GitHub-Delivery */
  delivery_id: string;
  event: string;
  repository_id: string | null;
  status: DeliveryStatus;
  reason: string | null;
  workflow_id: string | null;
  payload: ColumnType<unknown | null, string | null, string | null>;
  /** SHA-256 (hex) of the signed body; unique per repository (a replay under a new id is refused). */
  body_digest: ColumnType<string | null, string | null | undefined, string | null>;
  received_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
