/**
 * Phase: the review plan. One speculative plan of the whole original root against the unit states
 * merged into one (what a human approves), then the `post_plan` hooks and the security rules over
 * that plan. A destroy run plans a destroy review (runs started before that existed skip it).
 */
import { patched } from '@temporalio/workflow';
import type { ResourceChange, ReviewPlan, TerraformBase } from '../model/terraform';
import type { RunProgress } from '../definitions';
import { decisionRecords, securityVerdict } from '../gates';
import type { Analysed } from './analysis';
import type { HookRunner } from './hooks';
import type { RunSession } from './session';

export const isRealChange = (c: ResourceChange) => c.mode === 'managed' && !(c.actions.length === 1 && (c.actions[0] === 'no-op' || c.actions[0] === 'read'));

export interface Reviewed {
  review: ReviewPlan | undefined;
  /** The review plan changes nothing: nothing to approve, nothing applies (the unit plans confirm it). */
  nothingToReview: boolean;
}

export async function reviewPlan(s: RunSession, a: Analysed, hooks: HookRunner, base: TerraformBase): Promise<Reviewed | { ended: RunProgress }> {
  const { input, progress } = s;
  let review: ReviewPlan | undefined;
  // A destroy run shows what it removes and checks it against the security rules before asking
  // anyone (runs started before this version skip it, as they did).
  const destroyReview = input.kind === 'destroy' && patched('destroy-review-plan');
  if (input.kind !== 'destroy' || destroyReview) {
    const r = await s.onWorker('review plan', true, (x) => x.planReview(destroyReview ? { ...base, destroy: true } : base));
    review = r;
    progress.review = { counts: r.counts, changes: r.changes.filter(isRealChange).map((c) => ({ address: c.address, actions: c.actions })) };
    await s.event('plan_completed', { counts: r.counts, plan_json_key: r.planJsonKey });
    await hooks.run('post_plan');
    if (a.policies.policies.some((p) => p.security)) {
      const { gates } = a;
      const sec = await s.onWorker('security policies', true, (x) => x.evaluatePlanPolicies({
        policies: a.policies.policies, planJsonKey: r.planJsonKey, now: Date.now(), environment: gates.environment, state: gates.state,
      }));
      const verdict = securityVerdict(sec.decisions);
      await s.event('policy_check', { stage: 'post_plan', outcome: verdict.ok ? 'pass' : 'fail', decisions: decisionRecords(sec.decisions) });
      if (!verdict.ok) return { ended: await s.finish('failed', verdict.reason) };
    }
  }
  return { review, nothingToReview: review !== undefined && progress.review!.changes.length === 0 };
}
