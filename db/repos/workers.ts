/**
 * Worker registrations: capabilities, task queue and liveness (last heartbeat). A worker's id may be
 * fixed (WORKER_ID) and reused by the next process; its *incarnation*, random per process start and
 * replaced by every registration, tells that process from the one before it.
 */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';
import type { WorkerCapabilities, WorkerRow } from '../tables/workers';

export interface WorkerRegistration {
  id: string;
  kind: 'control' | 'execution';
  taskQueue: string;
  capabilities: WorkerCapabilities;
  host: string;
  pid: number;
  /** Random per process start; recorded in the state-lock claims this process writes. */
  incarnation?: string;
}

export async function registerWorker(db: DbOrTx, w: WorkerRegistration): Promise<void> {
  const row = {
    id: w.id, kind: w.kind, task_queue: w.taskQueue, capabilities: JSON.stringify(w.capabilities),
    host: w.host, pid: w.pid, incarnation: w.incarnation ?? null,
  };
  await db
    .insertInto('workers')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({
      ...row, started_at: sql`now()`, last_heartbeat_at: sql`now()`, stopped_at: null,
    }))
    .execute();
}

/**
 * Refreshes the heartbeat. With `incarnation`, only while the row is still that process's: false
 * when another process has registered under the same id since (or the row is gone).
 */
export async function heartbeatWorker(db: DbOrTx, id: string, incarnation?: string): Promise<boolean> {
  let q = db.updateTable('workers').set({ last_heartbeat_at: sql`now()` }).where('id', '=', id);
  if (incarnation !== undefined) q = q.where('incarnation', '=', incarnation);
  const r = await q.executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Marks the worker stopped; with `incarnation`, only while the row is still that process's. */
export async function markWorkerStopped(db: DbOrTx, id: string, incarnation?: string): Promise<void> {
  let q = db.updateTable('workers').set({ stopped_at: sql`now()` }).where('id', '=', id);
  if (incarnation !== undefined) q = q.where('incarnation', '=', incarnation);
  await q.execute();
}

/** Who wrote a state-lock claim: a worker id and, from claims of this version on, its incarnation. */
export interface LockHolderRef {
  workerId: string;
  incarnation?: string;
}

/**
 * Is the process that holds a lock alive? Only when the row of its worker id has a heartbeat within
 * `liveSeconds`, no stopped_at, and the same incarnation: a process restarted under the same
 * WORKER_ID is a new incarnation, so the locks of the one before it are known dead. A claim without
 * an incarnation (written by an older version) is judged by the worker id alone.
 */
export async function lockHolderAlive(db: DbOrTx, h: LockHolderRef, liveSeconds: number): Promise<boolean> {
  let q = db
    .selectFrom('workers')
    .select('id')
    .where('id', '=', h.workerId)
    .where('stopped_at', 'is', null)
    .where('last_heartbeat_at', '>', sql<Date>`now() - make_interval(secs => ${liveSeconds})`);
  if (h.incarnation) q = q.where('incarnation', '=', h.incarnation);
  return (await q.executeTakeFirst()) !== undefined;
}

/** Workers that heartbeated within `liveSeconds` and have not stopped. */
export async function liveWorkers(db: DbOrTx, liveSeconds: number, kind: 'control' | 'execution' = 'execution'): Promise<WorkerRow[]> {
  return db
    .selectFrom('workers')
    .selectAll()
    .where('kind', '=', kind)
    .where('stopped_at', 'is', null)
    .where('last_heartbeat_at', '>', sql<Date>`now() - make_interval(secs => ${liveSeconds})`)
    .orderBy('id')
    .execute();
}

export async function getWorker(db: DbOrTx, id: string): Promise<WorkerRow | undefined> {
  return db.selectFrom('workers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** All workers with a derived `online` flag, for the API. */
export async function listWorkers(db: DbOrTx, liveSeconds: number): Promise<Array<WorkerRow & { online: boolean }>> {
  const rows = await db
    .selectFrom('workers')
    .selectAll()
    .select(sql<boolean>`stopped_at is null and last_heartbeat_at > now() - make_interval(secs => ${liveSeconds})`.as('online'))
    .orderBy('id')
    .execute();
  return rows;
}
