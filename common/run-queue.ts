/**
 * Asking for a run of a stack state: every run goes through the state's queue workflow
 * (workflows/state-queue.ts), which starts it under its own id and gives it its turn when the runs
 * of that state before it are done. Used by the api (manual runs, destroys) and by the control
 * activity the push workflow calls.
 *
 * Durable when it returns: the request is in the queue workflow's history (signal-with-start).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RunRequest, WORKFLOWS } from '../workflows/definitions';
import type { StateQueueInput } from '../workflows/state-queue';

export type { RunRequest };

// Names only (common/ imports no workflow values); the types keep them equal to the definitions.
const STATE_QUEUE_WORKFLOW: typeof WORKFLOWS.stateQueue = 'stateQueueWorkflow';
const ENQUEUE_SIGNAL = 'enqueueRun';

/** The state queue's workflow id (workflows/definitions.ts stateQueueWorkflowId). */
export const stateQueueId = (stateId: string): string => `state-${stateId}`;

export async function requestRun(client: Client, taskQueue: string, req: RunRequest): Promise<void> {
  const input: StateQueueInput = { stateId: req.input.stateId };
  await client.workflow.signalWithStart(STATE_QUEUE_WORKFLOW, {
    workflowId: stateQueueId(req.input.stateId),
    taskQueue,
    args: [input],
    signal: ENQUEUE_SIGNAL,
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
