/**
 * StackRunWorkflow: one run of one stack state (deploy, or destroy in reverse order). The entry
 * function only runs the phases in order; each phase is a file of this folder and shares the run's
 * RunSession (progress, signals, context, events, routing):
 *
 *   queue (its turn among the state's runs) → analysis and policies → pre_plan hooks → review plan,
 *   post_plan hooks, security rules → approval → deployment window → pre_apply hooks → units in
 *   graph order → root outputs, the state marked deployed → post_apply hooks → finish.
 *
 * Until the units begin to apply, a newer run of the state may supersede this one (the phases run in
 * the session's `beforeApply` scope, which a supersede cancels); from then on the run always finishes.
 *
 * Workflow code: deterministic; imports @temporalio/workflow, pure modules of workflows/ and types.
 * A change that alters the commands of running workflows needs patched() and a recorded history that
 * takes the old branch (test/replay/).
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { TerraformBase, UnitOutput } from '../model/terraform';
import type { RunProgress, StackRunInput } from '../definitions';
import { decisionRecords, securityVerdict, unitApproved, unitSecurityDecisions } from '../gates';
import { control } from './proxies';
import { analyse, type Analysed } from './analysis';
import { approval, rejectedBy } from './approval';
import { hookRunner, type HookRunner } from './hooks';
import { awaitTurn } from './queue';
import { reviewPlan } from './review';
import { describe, failedUnits, RunSession } from './session';
import { runUnits } from './units';
import { deploymentWindow } from './window';

export { approveSignal, progressQuery, rejectSignal, type RunProgress, type RunPhase } from '../definitions';

export async function stackRunWorkflow(input: StackRunInput): Promise<RunProgress> {
  const s = new RunSession(input);
  await s.load();
  const ended = await awaitTurn(s);
  if (ended) return ended;
  try {
    return await s.beforeApply.run(() => phases(s));
  } catch (e) {
    if (s.superseded && isCancellation(e) && !s.applyStarted) return await s.finish('superseded', s.supersededReason());
    throw e;
  }
}

/** Every phase after the queue, in order; a phase that ends the run returns its final progress. */
async function phases(s: RunSession): Promise<RunProgress> {
  const { input } = s;
  let hooks: HookRunner | undefined;
  try {
    s.setPhase('planning');
    await s.event('plan_initiated', { commit: input.commit, trigger: input.trigger });
    const a = await analyse(s);
    hooks = hookRunner(s, a.policies.hooks);

    const prePlanStop = await hooks.run('pre_plan');
    if (prePlanStop) return await s.finish('failed', prePlanStop);

    const base: TerraformBase = { source: s.source, run: s.run, units: a.units, variables: s.ctx.variables };
    const reviewed = await reviewPlan(s, a, hooks, base);
    if ('ended' in reviewed) return reviewed.ended;

    const refused = await approval(s, a.gates, reviewed.nothingToReview);
    if (refused) return refused;
    if (!reviewed.nothingToReview) {
      const closed = await deploymentWindow(s, a.gates);
      if (closed) return closed;
    }

    const preApplyStop = await hooks.run('pre_apply');
    if (preApplyStop) return await s.finish('failed', preApplyStop);

    return await applyAndFinish(s, a, hooks, base, reviewed.review?.changes ?? []);
  } catch (e) {
    const hooksAfterApply = s.applyStarted && hooks !== undefined && patched('post-apply-on-failure');
    // Superseded before it applied: the caller records that (not a cancellation by a user).
    if (isCancellation(e) && s.superseded && !s.applyStarted) throw e;
    if (isCancellation(e)) {
      if (hooksAfterApply) await CancellationScope.nonCancellable(() => hooks!.postApply('cancelled')).catch(() => undefined);
      await s.finish('cancelled', 'cancelled');
      throw e;
    }
    const msg = e instanceof ApplicationFailure || e instanceof ActivityFailure ? describe(e) : String(e);
    if (hooksAfterApply) await hooks!.postApply('failed').catch(() => undefined);
    await s.finish('failed', msg);
    throw ApplicationFailure.nonRetryable(msg, 'StackRunFailed');
  }
}

/** Units in graph order, then the root outputs, the state marked deployed, the post_apply hooks. */
async function applyAndFinish(s: RunSession, a: Analysed, hooks: HookRunner, base: TerraformBase, review: TerraformReview): Promise<RunProgress> {
  const { input, ctx, progress } = s;
  s.setPhase('applying');
  await s.event('deploy_initiated', { parallelism: ctx.config.parallelism });
  s.applyStarted = true;
  const outputs = new Map<string, Record<string, UnitOutput>>();
  const destroy = input.kind === 'destroy';
  const ok = await runUnits({
    s, units: a.units, wiring: a.wiring, parallelism: ctx.config.parallelism, destroy, review, base, outputs,
    // Legacy runs counted any approval of the scope, one more per question; others ask the policy.
    unitApproved: (scope, asks) => (s.trustsRecords
      ? unitApproved(a.gates, Date.now(), s.approvals, scope)
      : s.approvals.filter((x) => x.scope === scope).length >= asks),
    rejected: () => rejectedBy(s, a.gates),
    checkSecurity: destroy && a.policies.policies.some((p) => p.security)
      ? async (unit, changes) => {
        const decisions = unitSecurityDecisions(a.gates, Date.now(), changes);
        const verdict = securityVerdict(decisions);
        await s.event('policy_check', { stage: 'post_plan', unit, outcome: verdict.ok ? 'pass' : 'fail', decisions: decisionRecords(decisions) });
        return verdict.ok ? undefined : verdict.reason;
      }
      : undefined,
  });
  if (!ok) {
    await hooks.postApply('failed');
    return await s.finish('failed', unitsFailedMessage(progress));
  }

  if (!destroy) {
    const rootOutputs = await s.onWorker('root outputs', true, (x) => x.evaluateOutputs({ ...base, unitOutputs: Object.fromEntries(outputs) }));
    progress.outputs = Object.fromEntries(Object.entries(rootOutputs).map(([k, v]) => [k, v.sensitive ? { value: '(sensitive)', sensitive: true } : v]));
  }
  await control.markStateDeployed({ stateId: ctx.stateId, commit: input.commit, kind: input.kind });
  const changed = Object.values(progress.units).some((u) => u.status === 'succeeded');
  await hooks.postApply(changed || destroy ? 'succeeded' : 'no_changes');
  return await s.finish(changed || destroy ? 'succeeded' : 'no_changes');
}

type TerraformReview = Parameters<typeof runUnits>[0]['review'];

function unitsFailedMessage(p: RunProgress): string {
  const all = failedUnits(p);
  const failed = all.filter((f) => f.status === 'failed').map((f) => `${f.unit} (${f.reason})`);
  const skipped = all.filter((f) => f.status === 'skipped').map((f) => f.unit);
  return `units failed: ${failed.join('; ')}${skipped.length ? `; not run because an upstream failed: ${skipped.join(', ')}` : ''}`;
}
