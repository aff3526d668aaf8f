/**
 * The control activity through which workflows ask for runs: each request goes to the state's
 * queue workflow with signal-with-start (common/run-queue.ts), which workflow code cannot do itself.
 * Idempotent: the queue takes a run id once, however often the request is retried.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { requestRun } from '../common/run-queue';
import type { RunRequest } from '../workflows/definitions';
import type { RunRequestActivities } from '../workflows/model/activities';

export interface RunRequestDeps {
  /** The Temporal client (default: the worker's own, from the activity context). */
  temporalClient?: () => Client;
}

export function createRunRequestActivities(deps: RunRequestDeps = {}): RunRequestActivities {
  const client = (): Client => deps.temporalClient?.() ?? Context.current().client;
  return {
    async requestRuns(input: { taskQueue: string; requests: RunRequest[] }): Promise<{ queued: string[] }> {
      const c = client();
      for (const r of input.requests) await requestRun(c, input.taskQueue, r);
      return { queued: input.requests.map((r) => r.runId) };
    },
  };
}
