/**
 * Keyset pagination shared by the list functions: newest first, ordered by (created_at, id), the
 * cursor is an opaque base64url token of the last row's key.
 */
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

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string): CursorKey {
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

/** Builds the page from `limit + 1` fetched rows. */
export function toPage<T>(rows: T[], limit: number, key: (row: T) => CursorKey): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(key(last)) : null };
}
