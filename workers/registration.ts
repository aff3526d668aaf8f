/**
 * Registers a worker's capabilities in Postgres and keeps its heartbeat fresh until stopped.
 *
 * Each process registers with its own incarnation (random, made at process start), which replaces
 * the one of any earlier process with the same id: the state locks that earlier process claimed are
 * then known dead (db/repos/workers.ts lockHolderAlive). Heartbeats and the final stop touch the row
 * only while it is still this incarnation's, so a process never keeps alive, or marks stopped, the
 * registration of another one. If another process registers under this id while this one runs (two
 * processes given the same WORKER_ID), this one's locks look dead to everyone: it is told through
 * `onSuperseded` and should stop.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Db } from '../db';
import { getWorker, heartbeatWorker, markWorkerStopped, registerWorker } from '../db/repos/workers';
import type { WorkerCapabilities } from '../db/tables/workers';

export const HEARTBEAT_SECONDS = 5;
/** Three missed heartbeats and a worker is offline. */
export const LIVE_SECONDS = HEARTBEAT_SECONDS * 3;

/** A new incarnation: made once per process start. */
export function newIncarnation(): string {
  return randomBytes(9).toString('base64url');
}

export interface Registration {
  stop(): Promise<void>;
}

export async function startRegistration(
  db: Db,
  logger: Logger,
  w: { id: string; kind: 'control' | 'execution'; taskQueue: string; capabilities: WorkerCapabilities; incarnation: string },
  opts: { onSuperseded?: (by: string | null) => void; heartbeatMs?: number } = {},
): Promise<Registration> {
  const before = await getWorker(db, w.id);
  await registerWorker(db, { ...w, host: hostname(), pid: process.pid });
  if (before && before.incarnation !== w.incarnation) {
    logger.info({ previous: { incarnation: before.incarnation, host: before.host, pid: before.pid, stoppedAt: before.stopped_at } },
      'worker id registered by a new process: the state locks of the previous one count as dead');
  }
  let failing = false;
  let superseded = false;
  const timer = setInterval(() => {
    if (superseded) return;
    heartbeatWorker(db, w.id, w.incarnation).then(
      async (ours) => {
        if (failing) logger.info('worker heartbeat recovered');
        failing = false;
        if (ours) return;
        const now = await getWorker(db, w.id);
        if (!now) {
          // The row was removed: register again (same incarnation, so this process's claims stay valid).
          await registerWorker(db, { ...w, host: hostname(), pid: process.pid });
          logger.warn('worker row was missing: registered again');
          return;
        }
        superseded = true;
        logger.error({ incarnation: w.incarnation, replacedBy: { incarnation: now.incarnation, host: now.host, pid: now.pid } },
          'another process registered under this WORKER_ID: this process\'s state locks now count as dead; stopping');
        opts.onSuperseded?.(now.incarnation);
      },
      (e: Error) => {
        // A database outage must not kill the worker: it keeps polling Temporal and retries here.
        if (!failing) logger.warn({ err: e.message }, 'worker heartbeat failed');
        failing = true;
      },
    ).catch((e: Error) => logger.warn({ err: e.message }, 'worker heartbeat check failed'));
  }, opts.heartbeatMs ?? HEARTBEAT_SECONDS * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await markWorkerStopped(db, w.id, w.incarnation).catch(() => undefined);
    },
  };
}
