/**
 * StateQueueWorkflow: one run at a time per stack state (workflow id `state-<state id>`).
 *
 * Whoever wants a run of a state (a push, the api, a schedule) sends `enqueueRun` to this workflow
 * with signal-with-start (activities/run-requests.ts). The queue starts the run at once as its
 * child, under the run's own workflow id, so the run is visible (phase `queued`, with the run it
 * waits for) from the first moment; the run waits for `turn` before it plans. Runs get their turn
 * one after another in the order asked; the queue learns that a run has ended from its child
 * result, however it ended (also when an operator terminated it), so a turn is never lost.
 *
 * A newer deploy supersedes deploys that have not begun to apply: the waiting ones at once, the one
 * that has its turn by a `supersede` signal that the run honours only before it applies (the run
 * decides, so an apply that has just begun always finishes, and the next run plans against its
 * result). Newer means a higher state generation (it grows with each registration of a new commit):
 * a push handled late, whose generation is older than one already queued, is superseded on arrival.
 * Destroy runs are never superseded; they supersede waiting deploys.
 *
 * The workflow ends when nothing waits and nothing runs; the next request starts it again. It never
 * continues-as-new while a child runs (that would detach its children).
 */
import {
  ParentClosePolicy, WorkflowIdReusePolicy, condition, getExternalWorkflowHandle, log, setHandler, startChild,
  allHandlersFinished, workflowInfo, type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  enqueueRunSignal, queuePositionSignal, queueQuery, supersedeSignal, turnSignal,
  type QueueView, type RunRequest, type StackRunInput, type SupersedeSignal,
} from './definitions';

export interface StateQueueInput {
  stateId: string;
}

type RunWorkflow = (input: StackRunInput) => Promise<unknown>;

interface Entry {
  req: RunRequest;
  generation: number;
  handle?: ChildWorkflowHandle<RunWorkflow>;
  ended: boolean;
  waitingFor?: string;
}

/** Pure: the waiting entries a new request supersedes (deploys only, never one that has its turn). */
export function supersededBy<T extends { req: RunRequest; generation: number }>(waiting: readonly T[], incoming: T): T[] {
  const kind = incoming.req.input.kind;
  if (kind === 'deploy') return waiting.filter((w) => w.req.input.kind === 'deploy' && w.generation <= incoming.generation);
  if (kind === 'destroy') return waiting.filter((w) => w.req.input.kind === 'deploy');
  return [];
}

const generationOf = (r: RunRequest): number => r.input.generation ?? 0;

export async function stateQueueWorkflow(input: StateQueueInput): Promise<{ runs: string[] }> {
  const self = workflowInfo().workflowId;
  const inbox: RunRequest[] = [];
  const seen = new Set<string>();
  const waiting: Entry[] = [];
  let current: Entry | undefined;
  let newest = 0;
  const started: string[] = [];

  setHandler(enqueueRunSignal, (r) => {
    // A request retried (by an activity or an api call) names the same run: queue it once.
    if (seen.has(r.runId)) return;
    seen.add(r.runId);
    inbox.push(r);
  });
  const view = (e: Entry) => ({ runId: e.req.runId, kind: e.req.input.kind, commit: e.req.input.commit, generation: e.generation });
  setHandler(queueQuery, (): QueueView => ({
    stateId: input.stateId,
    ...(current ? { current: view(current) } : {}),
    waiting: waiting.map(view),
  }));

  /** Signals a run; one that has ended (or never started) cannot hear it, which is fine. */
  const tell = async (runId: string, send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>): Promise<void> => {
    try {
      await send(getExternalWorkflowHandle(runId));
    } catch (e) {
      log.info('run did not take a signal (it has ended)', { runId, error: String(e) });
    }
  };
  const supersede = (e: Entry, by: RunRequest, reason: string): Promise<void> => {
    const s: SupersedeSignal = { by: by.runId, commit: by.input.commit, reason };
    return tell(e.req.runId, (h) => h.signal(supersedeSignal, s));
  };

  /** Starts the run as a child, waiting behind `waitingFor`; false when it cannot be started. */
  const start = async (e: Entry): Promise<boolean> => {
    try {
      e.handle = await startChild<RunWorkflow>(e.req.workflowType, {
        workflowId: e.req.runId,
        taskQueue: workflowInfo().taskQueue,
        args: [{ ...e.req.input, queue: { workflowId: self, ...(e.waitingFor ? { waitingFor: e.waitingFor } : {}) } }],
        // A run that is applying must finish even if this queue were terminated by hand.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      started.push(e.req.runId);
      void e.handle.result().then(() => undefined, () => undefined).finally(() => { e.ended = true; });
      return true;
    } catch (err) {
      // Started by an earlier queue of this state (a request retried after that queue ended): it ran then.
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        log.info('run already started earlier', { runId: e.req.runId });
      } else {
        log.warn('run could not be started', { runId: e.req.runId, error: String(err) });
      }
      return false;
    }
  };

  const last = (): string | undefined => (waiting.length ? waiting[waiting.length - 1]!.req.runId : current?.req.runId);

  for (;;) {
    await condition(() => inbox.length > 0 || (current?.ended ?? false) || waiting.some((w) => w.ended) || (!current && waiting.length > 0));

    // Runs that ended while waiting (cancelled by a user) leave the queue.
    for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i]!.ended) waiting.splice(i, 1);
    if (current?.ended) current = undefined;

    for (const req of inbox.splice(0)) {
      const e: Entry = { req, generation: generationOf(req), ended: false };
      if (req.input.kind === 'deploy' && e.generation < newest) {
        // A newer commit of this state was asked for already: this one is out of date on arrival.
        e.waitingFor = last();
        if (await start(e)) await supersede(e, req, 'a newer commit of this state was already queued');
        continue;
      }
      newest = Math.max(newest, e.generation);
      for (const w of supersededBy(waiting, e)) {
        waiting.splice(waiting.indexOf(w), 1);
        await supersede(w, req, req.input.kind === 'destroy' ? 'the state is being destroyed' : `superseded by a newer run (commit ${req.input.commit.slice(0, 12)})`);
      }
      if (current && !current.ended && current.req.input.kind === 'deploy' && supersededBy([current], e).length) {
        // Honoured by the run only if it has not begun to apply.
        await supersede(current, req, `superseded by a newer run (commit ${req.input.commit.slice(0, 12)})`);
      }
      e.waitingFor = last();
      if (await start(e)) waiting.push(e);
    }

    if (!current && waiting.length > 0) {
      current = waiting.shift()!;
      const turn = current;
      await tell(turn.req.runId, (h) => h.signal(turnSignal));
      for (const w of waiting) {
        const before = waiting.indexOf(w) === 0 ? turn.req.runId : waiting[waiting.indexOf(w) - 1]!.req.runId;
        if (w.waitingFor !== before) {
          w.waitingFor = before;
          await tell(w.req.runId, (h) => h.signal(queuePositionSignal, { waitingFor: before }));
        }
      }
    }

    if (!current && waiting.length === 0 && inbox.length === 0) {
      await condition(allHandlersFinished);
      if (inbox.length === 0) return { runs: started };
    }
  }
}
