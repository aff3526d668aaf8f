/**
 * Phase: deployment windows. `queue` waits with a durable timer until the window opens; `reject`
 * ends the run.
 */
import { sleep } from '@temporalio/workflow';
import type { RunProgress } from '../definitions';
import { decisionRecords, windowGate, type GateContext } from '../gates';
import type { RunSession } from './session';

/** Resolves undefined when the window is open, or with the final progress when it refuses the run. */
export async function deploymentWindow(s: RunSession, gates: GateContext): Promise<RunProgress | undefined> {
  for (let announced = false; ;) {
    const w = windowGate(gates, Date.now());
    if (w.verdict === 'allow') {
      if (w.decisions.length > 0) await s.event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'pass', decisions: decisionRecords(w.decisions) });
      return undefined;
    }
    if (w.verdict !== 'queue') {
      await s.event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'fail', decisions: decisionRecords(w.decisions) });
      return s.finish('failed', w.reason);
    }
    if (!announced) {
      announced = true;
      await s.event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'queue', decisions: decisionRecords(w.decisions) });
    }
    s.setPhase('queued', w.reason);
    await sleep(w.sleepMs ?? 60_000);
  }
}
