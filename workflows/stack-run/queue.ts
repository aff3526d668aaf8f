/**
 * Phase: the run's turn in its state's queue (workflows/state-queue.ts). A run started by the queue
 * waits, visibly `queued`, until the queue gives it its turn or a newer run supersedes it; at its
 * turn it checks that no newer commit was registered meanwhile.
 */
import { condition, isCancellation } from '@temporalio/workflow';
import type { RunProgress } from '../definitions';
import { control } from './proxies';
import type { RunSession } from './session';

/** Resolves undefined when the run may go on, or with its final progress when it ended here. */
export async function awaitTurn(s: RunSession): Promise<RunProgress | undefined> {
  const { input } = s;
  if (!input.queue) return undefined;
  await s.event('run_queued', { waiting_for: input.queue.waitingFor ?? null, generation: input.generation ?? null });
  try {
    await condition(() => s.turn || s.superseded !== undefined);
  } catch (e) {
    // Cancelled by a user while it waited: nothing ran.
    if (isCancellation(e)) await s.finish('cancelled', 'cancelled while queued');
    throw e;
  }
  s.progress.waitingFor = undefined;
  if (s.superseded) return s.finish('superseded', s.supersededReason());
  // The queue only knows what it was asked, in order; the registry knows whether a newer commit came since.
  const fresh = await control.checkRunCurrent({ stateId: input.stateId, kind: input.kind, generation: input.generation });
  if (!fresh.current) return s.finish('superseded', fresh.reason);
  await control.updateOperation({ operationId: s.operationId, status: 'running' });
  return undefined;
}
