/** Registers a worker's capabilities in Postgres and keeps its heartbeat fresh until stopped. */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Db } from '../db';
import { heartbeatWorker, markWorkerStopped, registerWorker } from '../db/repos/workers';
import type { WorkerCapabilities } from '../db/tables/workers';

export const HEARTBEAT_SECONDS = 5;
/** Three missed heartbeats and a worker is offline. */
export const LIVE_SECONDS = HEARTBEAT_SECONDS * 3;

export interface Registration {
  stop(): Promise<void>;
}

export async function startRegistration(
  db: Db,
  logger: Logger,
  w: { id: string; kind: 'control' | 'execution'; taskQueue: string; capabilities: WorkerCapabilities },
): Promise<Registration> {
  await registerWorker(db, { ...w, host: hostname(), pid: process.pid });
  let failing = false;
  const timer = setInterval(() => {
    heartbeatWorker(db, w.id).then(
      () => {
        if (failing) logger.info('worker heartbeat recovered');
        failing = false;
      },
      (e: Error) => {
        // A database outage must not kill the worker: it keeps polling Temporal and retries here.
        if (!failing) logger.warn({ err: e.message }, 'worker heartbeat failed');
        failing = true;
      },
    );
  }, HEARTBEAT_SECONDS * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await markWorkerStopped(db, w.id).catch(() => undefined);
    },
  };
}
