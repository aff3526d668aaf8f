/**
 * Asking for a run of a stack state: every run goes through the state's queue workflow
 * (workflows/state-queue.ts), which starts it under its own id and gives it its turn when the runs
 * of that state before it are done. `requestRun` is used by the api (manual runs, destroys) and by
 * the control activity through which workflows ask for runs (`requestRuns`), since workflow code
 * cannot signal-with-start itself.
 *
 * Durable when it returns: the request is in the queue workflow's history (signal-with-start).
 * Idempotent: the queue takes a run id once, however often the request is retried.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WORKFLOWS, enqueueRunSignal, stateQueueWorkflowId, type RunRequest } from '../workflows/definitions';
import type { RunRequestActivities } from '../workflows/model/activities';
import type { StateQueueInput } from '../workflows/state-queue';

export async function requestRun(client: Client, taskQueue: string, req: RunRequest): Promise<void> {
  const input: StateQueueInput = { stateId: req.input.stateId };
  await client.workflow.signalWithStart(WORKFLOWS.stateQueue, {
    workflowId: stateQueueWorkflowId(req.input.stateId),
    taskQueue,
    args: [input],
    signal: enqueueRunSignal,
    signalArgs: [req],
  });
}

/**
 * Waits until the queue has started the run (it exists in Temporal), for at most `timeoutMs`.
 * True when it exists; false when it does not yet (no control worker has taken the queue's task).
 */
export async function waitForRunStarted(client: Client, runId: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
    try {
      await client.workflow.getHandle(runId).describe();
      return true;
    } catch (e) {
      if (!(e instanceof WorkflowNotFoundError)) throw e;
    }
    if (Date.now() + delay > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
  }
}

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
