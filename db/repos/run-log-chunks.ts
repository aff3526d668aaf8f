/**
 * Live run logs (run_log_chunks): appended by execution workers in small batches, read by the api.
 *
 * A run's chunks are numbered 1, 2, 3… (`seq`) under a transaction-scoped advisory lock of the run,
 * so numbers are handed out in commit order: the chunks of parallel units of one run never commit
 * out of order, and a reader that has seen chunk N (an event stream's Last-Event-ID) will never
 * later see a chunk below N appear. Readers therefore page by `seq > cursor` with no gaps.
 */
import { sql } from 'kysely';
import type { Db } from '../index';
import type { RunLogChunkRow } from '../tables/run-log-chunks';

export interface NewRunLogChunk {
  execution: string;
  unit: string;
  phase: string;
  attempt: number;
  at: Date;
  bytes: number;
  textEnc: Buffer;
}

/** Appends chunks (in the given order) to a run's log; returns the numbers they got. */
export async function appendRunLogChunks(db: Db, namespace: string, runId: string, chunks: readonly NewRunLogChunk[]): Promise<number[]> {
  if (chunks.length === 0) return [];
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`run_log_chunks/${namespace}/${runId}`}, 0))`.execute(tx);
    const last = await tx.selectFrom('run_log_chunks')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('namespace', '=', namespace).where('run_id', '=', runId)
      .executeTakeFirst();
    const first = Number(last?.seq ?? 0) + 1;
    await tx.insertInto('run_log_chunks').values(chunks.map((c, i) => ({
      namespace, run_id: runId, seq: String(first + i), execution: c.execution, unit: c.unit, phase: c.phase,
      attempt: c.attempt, at: c.at, bytes: c.bytes, text_enc: c.textEnc,
    }))).execute();
    return chunks.map((_, i) => first + i);
  });
}

export interface ChunkFilter {
  /** Only chunks numbered above this (an event stream's cursor). */
  afterSeq?: number;
  unit?: string;
  phase?: string;
  /** Only this workflow execution's chunks. */
  execution?: string;
  limit?: number;
}

/** A run's chunks in order. */
export async function listRunLogChunks(db: Db, namespace: string, runId: string, f: ChunkFilter = {}): Promise<RunLogChunkRow[]> {
  let q = db.selectFrom('run_log_chunks').selectAll()
    .where('namespace', '=', namespace).where('run_id', '=', runId);
  if (f.afterSeq !== undefined) q = q.where('seq', '>', String(f.afterSeq));
  if (f.unit !== undefined) q = q.where('unit', '=', f.unit);
  if (f.phase !== undefined) q = q.where('phase', '=', f.phase);
  if (f.execution !== undefined) q = q.where('execution', '=', f.execution);
  return q.orderBy('seq').limit(f.limit ?? 1000).execute();
}

/** The workflow execution that wrote a run's last chunk (the newest run under that workflow id), if any wrote one. */
export async function latestRunLogExecution(db: Db, namespace: string, runId: string): Promise<string | undefined> {
  const row = await db.selectFrom('run_log_chunks').select('execution')
    .where('namespace', '=', namespace).where('run_id', '=', runId)
    .orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return row?.execution;
}
