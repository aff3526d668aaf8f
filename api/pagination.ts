/** `?limit=&cursor=` → a page request; list responses are `{ items, next_cursor }`. */
import type { Page, PageRequest } from '../db/repos/pagination';
import { badRequest } from './errors';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

export function pageRequest(query: unknown): PageRequest {
  const q = (query ?? {}) as Record<string, unknown>;
  let limit = DEFAULT_LIMIT;
  if (q.limit !== undefined) {
    limit = Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw badRequest(`limit must be an integer from 1 to ${MAX_LIMIT}`, 'invalid_limit');
  }
  const cursor = typeof q.cursor === 'string' && q.cursor !== '' ? q.cursor : null;
  return { limit, cursor };
}

export function pageBody<T, U>(page: Page<T>, map: (t: T) => U): { items: U[]; next_cursor: string | null } {
  return { items: page.items.map(map), next_cursor: page.nextCursor };
}

export function str(query: unknown, key: string): string | undefined {
  const v = (query as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
