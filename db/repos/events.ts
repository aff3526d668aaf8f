/** events: the stored event stream. Inserts carry a dedupe key so retried activities record once. */
import type { DbOrTx } from '../index';
import type { EventType, StoredEvent } from '../tables/events';
import { keysetPage, type Page, type PageRequest } from './pagination';

export interface NewEvent {
  accountId: string | null;
  stackCodeId?: string | null;
  stackStateId?: string | null;
  operationId?: string | null;
  type: EventType;
  payload: unknown;
  /** Same key twice → stored once. */
  dedupeKey?: string | null;
}

/** Records an event; false when its dedupe key was recorded before (nothing inserted). */
export async function recordEvent(db: DbOrTx, e: NewEvent): Promise<boolean> {
  const r = await db
    .insertInto('events')
    .values({
      account_id: e.accountId,
      stack_code_id: e.stackCodeId ?? null,
      stack_state_id: e.stackStateId ?? null,
      operation_id: e.operationId ?? null,
      type: e.type,
      payload: JSON.stringify(e.payload ?? {}),
      dedupe_key: e.dedupeKey ?? null,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export interface EventFilter {
  stackCodeId?: string;
  stackStateId?: string;
  type?: EventType;
}

export async function listEvents(db: DbOrTx, accountId: string, filter: EventFilter, page: PageRequest): Promise<Page<StoredEvent>> {
  let q = db.selectFrom('events').selectAll().where('account_id', '=', accountId);
  if (filter.stackCodeId) q = q.where('stack_code_id', '=', filter.stackCodeId);
  if (filter.stackStateId) q = q.where('stack_state_id', '=', filter.stackStateId);
  if (filter.type) q = q.where('type', '=', filter.type);
  // Event ids are a sequence, so the id alone orders them.
  return keysetPage(q, page, { time: 'created_at', idOnly: true });
}

export async function getEvent(db: DbOrTx, accountId: string, id: string): Promise<StoredEvent | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  return db.selectFrom('events').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

/** Whether an event with any of these dedupe keys was recorded (has this delivery made that change?). */
export async function anyEventWithKey(db: DbOrTx, dedupeKeys: string[]): Promise<boolean> {
  if (dedupeKeys.length === 0) return false;
  const row = await db.selectFrom('events').select('id').where('dedupe_key', 'in', dedupeKeys).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** The directories a stack code moved from (its `module_moved` events), newest first. */
export async function movedFromPaths(db: DbOrTx, stackCodeId: string): Promise<string[]> {
  const rows = await db.selectFrom('events').select('payload').where('stack_code_id', '=', stackCodeId).where('type', '=', 'module_moved')
    .orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  return rows.map((r) => (r.payload as { from_path?: unknown }).from_path).filter((p): p is string => typeof p === 'string');
}
