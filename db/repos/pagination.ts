/**
 * Keyset pagination shared by the list functions: newest first, ordered by (created_at, id) (or a
 * table's own time column), the cursor is an opaque base64url token of the last row's key.
 * {@link keysetPage} is the one place that writes the cursor condition, the order and `limit + 1`.
 */
import { sql, type SelectQueryBuilder } from 'kysely';

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | null;
}

export interface CursorKey {
  t: string;
  id: string;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): CursorKey {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (v && typeof v === 'object' && typeof (v as CursorKey).t === 'string' && typeof (v as CursorKey).id === 'string'
      && !Number.isNaN(Date.parse((v as CursorKey).t))) {
      return v as CursorKey;
    }
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}

/** The fields of a row type that hold a timestamp. */
type TimeField<O> = { [K in keyof O]-?: O[K] extends Date ? K : never }[keyof O] & string;

export interface KeysetOrder<O> {
  /** The row's time column (`created_at`, `started_at`): part of every cursor. */
  time: TimeField<O>;
  /** Qualifies both columns when the query joins other tables (`operations` → `operations.started_at`). */
  table?: string;
  /** The ids come from a sequence, so the id alone orders the rows (the time is only carried in the cursor). */
  idOnly?: boolean;
}

/**
 * One page of `q`, newest first: rows after the cursor, ordered by (time, id) descending (or id
 * alone), `limit + 1` fetched to know whether another page follows. `q` holds the filters only.
 */
export async function keysetPage<DB, TB extends keyof DB, O extends { id: string }>(
  q: SelectQueryBuilder<DB, TB, O>,
  page: PageRequest,
  order: KeysetOrder<O>,
): Promise<Page<O>> {
  const col = (name: string) => sql.ref(order.table ? `${order.table}.${name}` : name);
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    q = order.idOnly
      ? q.where(col('id'), '<', c.id)
      : q.where((eb) => eb.or([
        eb(col(order.time), '<', new Date(c.t)),
        eb.and([eb(col(order.time), '=', new Date(c.t)), eb(col('id'), '<', c.id)]),
      ]));
  }
  if (!order.idOnly) q = q.orderBy(col(order.time), 'desc');
  const rows = (await q.orderBy(col('id'), 'desc').limit(page.limit + 1).execute()) as O[];
  return toPage(rows, page.limit, (r) => ({ t: (r[order.time] as Date).toISOString(), id: r.id }));
}

/** Builds the page from `limit + 1` fetched rows. */
function toPage<T>(rows: T[], limit: number, key: (row: T) => CursorKey): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(key(last)) : null };
}
