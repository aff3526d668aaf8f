/** Control activity: which task queue can run a stack with these requirements, right now. */
import type { Db } from '../db';
import { liveWorkers } from '../db/repos/workers';
import { noWorkerReason, satisfies, type Requirement } from '../workflows/capabilities';
import type { RouteResult } from '../workflows/model/run';
import type { RoutingActivities } from '../workflows/model/activities';
import { bindingOfState, poolProblem, requirementProblem } from './pools';

export interface RoutingDeps {
  db: Db;
  /** A worker whose last heartbeat is older than this is offline. */
  liveSeconds: number;
}

export function createRoutingActivities(deps: RoutingDeps): RoutingActivities {
  return {
    async findTaskQueue(input: Requirement & { stateId?: string }): Promise<RouteResult> {
      const { stateId, ...required } = input;
      // Worker pools bound to the stack's repository (activities/pools.ts). A run that names no state
      // (started before this) is treated as unbound: only workers without a pool label.
      const binding = (stateId ? await bindingOfState(deps.db, stateId) : undefined) ?? { pools: [], source: 'none' as const };
      const refused = requirementProblem(required.labels, binding);
      if (refused) return { ok: false, reason: refused };
      const live = await liveWorkers(deps.db, deps.liveSeconds);
      const byQueue = new Map<string, string[]>();
      for (const w of live) {
        if (!satisfies(w.capabilities, required)) continue;
        if (poolProblem(w.capabilities.labels ?? {}, binding)) continue;
        byQueue.set(w.task_queue, [...(byQueue.get(w.task_queue) ?? []), w.id]);
      }
      const best = [...byQueue.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))[0];
      return best ? { ok: true, taskQueue: best[0], workers: best[1] } : { ok: false, reason: noWorkerReason(required) };
    },
  };
}
