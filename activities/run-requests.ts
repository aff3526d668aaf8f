/**
 * The control activity through which workflows ask for runs: each request goes to the state's
 * queue workflow with signal-with-start (common/run-queue.ts), which workflow code cannot do itself.
 * Idempotent: the queue takes a run id once, however often the request is retried.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { requestRun } from '../common/run-queue';
import type { RunRequest } from '../workflows/definitions';

export interface RunRequestDeps {
  /** The Temporal client (default: the worker's own, from the activity context). */
  temporalClient?: () => Client;
}

export function createRunRequestActivities(deps: RunRequestDeps = {}) {
  const client = (): Client => deps.temporalClient?.() ?? Context.current().client;
  return {
    /** Queues each run on its state's queue (started on `taskQueue`, the control queue of the caller). */
    async requestRuns(input: { taskQueue: string; requests: RunRequest[] }): Promise<{ queued: string[] }> {
      const c = client();
      for (const r of input.requests) await requestRun(c, input.taskQueue, r);
      return { queued: input.requests.map((r) => r.runId) };
    },
  };
}
export type RunRequestActivities = ReturnType<typeof createRunRequestActivities>;
