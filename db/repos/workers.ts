/** Worker registrations: capabilities, task queue and liveness (last heartbeat). */
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
}

export async function registerWorker(db: DbOrTx, w: WorkerRegistration): Promise<void> {
  const row = {
    id: w.id, kind: w.kind, task_queue: w.taskQueue, capabilities: JSON.stringify(w.capabilities),
    host: w.host, pid: w.pid,
  };
  await db
    .insertInto('workers')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({
      ...row, started_at: sql`now()`, last_heartbeat_at: sql`now()`, stopped_at: null,
    }))
    .execute();
}

export async function heartbeatWorker(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('workers').set({ last_heartbeat_at: sql`now()` }).where('id', '=', id).execute();
}

export async function markWorkerStopped(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('workers').set({ stopped_at: sql`now()` }).where('id', '=', id).execute();
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
