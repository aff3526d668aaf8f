/** webhook_deliveries: every GitHub delivery, stored before the api answers. */
import type { DbOrTx } from '../index';
import type { DeliveryStatus, WebhookDelivery } from '../tables/webhook-deliveries';

export interface NewDelivery {
  deliveryId: string;
  event: string;
  repositoryId: string | null;
  status: DeliveryStatus;
  reason?: string | null;
  workflowId?: string | null;
  /** A small summary of the payload (never the whole body, never secrets). */
  summary?: unknown;
  /** SHA-256 (hex) of the signed body: unique per repository (db error 23505 on a replay under a new id). */
  bodyDigest?: string | null;
}

/**
 * Inserts the delivery unless a row with its id exists. Returns the stored row and whether this call
 * inserted it; the caller of a concurrent duplicate sees `inserted: false` and the winner's row.
 */
export async function insertDelivery(db: DbOrTx, d: NewDelivery): Promise<{ row: WebhookDelivery; inserted: boolean }> {
  const inserted = await db
    .insertInto('webhook_deliveries')
    .values({
      delivery_id: d.deliveryId,
      event: d.event,
      repository_id: d.repositoryId,
      status: d.status,
      reason: d.reason ?? null,
      workflow_id: d.workflowId ?? null,
      payload: d.summary === undefined ? null : JSON.stringify(d.summary),
      body_digest: d.bodyDigest ?? null,
    })
    .onConflict((oc) => oc.column('delivery_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { row: inserted, inserted: true };
  const row = await db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', d.deliveryId).executeTakeFirstOrThrow();
  return { row, inserted: false };
}

export async function markDeliveryStarted(db: DbOrTx, deliveryId: string, workflowId: string): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'started', workflow_id: workflowId, updated_at: new Date() })
    .where('delivery_id', '=', deliveryId)
    .where('status', '=', 'received')
    .execute();
}

export async function markDeliveryFailed(db: DbOrTx, deliveryId: string, reason: string): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', reason, updated_at: new Date() })
    .where('delivery_id', '=', deliveryId)
    .execute();
}

export async function getDelivery(db: DbOrTx, deliveryId: string): Promise<WebhookDelivery | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', deliveryId).executeTakeFirst();
}

/** The delivery of a repository whose signed body had this digest, if any. */
export async function findDeliveryByDigest(db: DbOrTx, repositoryId: string, bodyDigest: string): Promise<WebhookDelivery | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll().where('repository_id', '=', repositoryId).where('body_digest', '=', bodyDigest).executeTakeFirst();
}

/** The push was refused after it was accepted (e.g. its commit is not on the tracked branch): nothing registered or run. */
export async function markDeliveryRefused(db: DbOrTx, deliveryId: string, reason: string): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'refused', reason, updated_at: new Date() })
    .where('delivery_id', '=', deliveryId)
    .execute();
}
