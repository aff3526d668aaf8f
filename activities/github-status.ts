/**
 * What a run's commit status on GitHub says at each of its events (issue 17): pure, used by
 * `emitRunEvent` (activities/runs.ts), which writes the status into the outbox
 * (db/repos/github-notifications.ts) in the same transaction as the event, so a status is never
 * posted for an event that was not recorded, nor lost for one that was. No values: counts, phases and
 * the run's own failure reason (already free of variable values) only.
 */
import type { GithubStatusState } from '../db/tables/github';
import type { EventType } from '../db/tables/events';

/** The context of a state's runs: `stackly/<stack>/<state>` (one check line per stack state on GitHub). */
export const runStatusContext = (stack: string, state: string): string => `stackly/${stack}/${state}`;
/** The context of a pull request's review plan of a stack state. */
export const planStatusContext = (stack: string, state: string): string => `stackly/plan/${stack}/${state}`;

export interface PlanCountsLike { add?: number; change?: number; destroy?: number; replace?: number }

export const countsText = (c: PlanCountsLike): string => `+${c.add ?? 0} ~${c.change ?? 0} -${c.destroy ?? 0}${c.replace ? ` ±${c.replace}` : ''}`;

/**
 * The status of a deploy or destroy run after an event of it, or undefined when the event changes
 * nothing GitHub shows. `counts`: the run's review plan, when it has one.
 */
export function runStatusOf(type: EventType, payload: unknown, kind: 'apply' | 'destroy', counts?: PlanCountsLike): { state: GithubStatusState; description: string } | undefined {
  const p = (payload && typeof payload === 'object' ? payload : {}) as Record<string, unknown>;
  const verb = kind === 'destroy' ? 'destroy' : 'deploy';
  switch (type) {
    case 'run_queued':
      return { state: 'pending', description: p.waiting_for ? 'queued behind another run of this state' : 'queued' };
    case 'plan_initiated':
      return { state: 'pending', description: 'planning' };
    case 'plan_completed': {
      const c = (p.counts ?? counts) as PlanCountsLike | undefined;
      return { state: 'pending', description: `planned ${c ? countsText(c) : ''}`.trim() };
    }
    case 'approval_required':
      // Units asking again (a plan that differs from the review) say which unit.
      return p.scope && p.scope !== 'review'
        ? { state: 'pending', description: `waiting for approval of unit ${String(p.unit ?? p.scope)}: its plan differs from the reviewed one` }
        : { state: 'pending', description: `waiting for approval${counts ? `: ${countsText(counts)}` : ''}` };
    case 'deploy_initiated':
      return { state: 'pending', description: kind === 'destroy' ? 'destroying' : 'applying' };
    case 'deploy_completed':
      return p.phase === 'no_changes'
        ? { state: 'success', description: 'no changes' }
        : { state: 'success', description: `${kind === 'destroy' ? 'destroyed' : 'applied'}${counts ? `: ${countsText(counts)}` : ''}` };
    case 'deploy_failed':
      return p.phase === 'rejected'
        ? { state: 'failure', description: `rejected${p.error ? `: ${String(p.error).replace(/^rejected by /, 'by ')}` : ''}` }
        : { state: 'failure', description: `${verb} failed${p.error ? `: ${String(p.error)}` : ''}` };
    case 'run_cancelled':
      return { state: 'error', description: 'cancelled' };
    case 'run_superseded':
      return { state: 'error', description: `superseded${p.superseded_by ? ` by run ${String(p.superseded_by)}` : ' by a newer run'}` };
    default:
      return undefined;
  }
}
