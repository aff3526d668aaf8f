/**
 * rate_limits: fixed-window request counters shared by every api instance (api/rate-limit.ts).
 *
 * A window is `[floor(t / w) * w, … + w)` on the epoch, with `t` Postgres's clock, so every instance
 * agrees on where a window starts however far their own clocks drift. One row per key and window;
 * counting is one atomic upsert, so concurrent requests on any number of instances never lose a count.
 */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';

export interface WindowCount {
  /** Requests counted in the current window, this one included. */
  count: number;
  /** When the current window began and what time it is, both by Postgres's clock (epoch ms). */
  windowStartMs: number;
  nowMs: number;
}

/** Postgres's start of the current `windowMs` window. */
const windowStart = (windowMs: number) =>
  sql<Date>`to_timestamp(floor(extract(epoch from now()) * 1000 / ${windowMs}::float8) * ${windowMs}::float8 / 1000)`;

function checkWindow(windowMs: number): void {
  if (!Number.isInteger(windowMs) || windowMs < 1000) throw new Error(`rate-limit window must be a whole number of ms ≥ 1000, got ${windowMs}`);
}

/** Counts one request for `key` in the current window and returns the window's count. */
export async function incrementWindow(db: DbOrTx, key: string, windowMs: number): Promise<WindowCount> {
  checkWindow(windowMs);
  const r = await sql<{ count: number; window_start_ms: number; now_ms: number }>`
    insert into rate_limits (key, window_start, count) values (${key}, ${windowStart(windowMs)}, 1)
    on conflict (key, window_start) do update set count = rate_limits.count + 1
    returning count, (extract(epoch from window_start) * 1000)::float8 as window_start_ms, (extract(epoch from now()) * 1000)::float8 as now_ms
  `.execute(db);
  const row = r.rows[0]!;
  return { count: Number(row.count), windowStartMs: Number(row.window_start_ms), nowMs: Number(row.now_ms) };
}

/** The current window's count for `key` without counting (0 when the key has none). */
export async function readWindow(db: DbOrTx, key: string, windowMs: number): Promise<WindowCount> {
  checkWindow(windowMs);
  const r = await sql<{ count: number | null; window_start_ms: number; now_ms: number }>`
    select (select count from rate_limits where key = ${key} and window_start = w.start) as count,
      (extract(epoch from w.start) * 1000)::float8 as window_start_ms, (extract(epoch from now()) * 1000)::float8 as now_ms
    from (select ${windowStart(windowMs)} as start) w
  `.execute(db);
  const row = r.rows[0]!;
  return { count: Number(row.count ?? 0), windowStartMs: Number(row.window_start_ms), nowMs: Number(row.now_ms) };
}

/** Deletes the counters of windows that began more than `olderThanMs` ago; returns how many. */
export async function pruneWindows(db: DbOrTx, olderThanMs: number): Promise<number> {
  const r = await db.deleteFrom('rate_limits')
    .where('window_start', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000}::float8)`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
