/** Control activity: which task queue can run a stack with these requirements, right now. */
import type { Db } from '../db';
import { liveWorkers } from '../db/repos/workers';
import { noWorkerReason, satisfies, type Requirement } from '../workflows/capabilities';
import type { RouteResult } from '../workflows/model/run';
import type { RoutingActivities } from '../workflows/model/activities';

export interface RoutingDeps {
  db: Db;
  /** A worker whose last heartbeat is older than this is offline. */
  liveSeconds: number;
}

export function createRoutingActivities(deps: RoutingDeps): RoutingActivities {
  return {
    async findTaskQueue(required: Requirement): Promise<RouteResult> {
      const live = await liveWorkers(deps.db, deps.liveSeconds);
      const byQueue = new Map<string, string[]>();
      for (const w of live) {
        if (!satisfies(w.capabilities, required)) continue;
        byQueue.set(w.task_queue, [...(byQueue.get(w.task_queue) ?? []), w.id]);
      }
      const best = [...byQueue.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))[0];
      return best ? { ok: true, taskQueue: best[0], workers: best[1] } : { ok: false, reason: noWorkerReason(required) };
    },
  };
}
