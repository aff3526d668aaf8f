/**
 * Phase: the units, in graph order (reversed for destroy), each as soon as its dependencies are done:
 * plan with its upstreams' real outputs → fit check against what was approved → (ask again only for
 * a difference) → apply that saved plan. A failed unit stops its dependants; independent branches
 * finish. A unit whose worker died mid-apply is planned again and applied only if it still fits.
 *
 * Unit status lives in the run's progress (what users see); the pure scheduler's state only decides
 * what may start next.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, TimeoutFailure, condition, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { ResourceChange, TerraformBase, UnitOutput, UnitPlanApplyResult, UnitPlanResult } from '../model/terraform';
import { belongsTo, checkFit, type FitProblem } from '../fit';
import type { UnitGraph } from '../graph-types';
import { initialState, isFinished, nextState, readyUnits, reverse, type SchedGraph, type SchedState } from '../scheduler';
import type { RejectSignal } from '../definitions';
import type { Analysed } from './analysis';
import { describe, type RunSession } from './session';

export interface UnitsRun {
  s: RunSession;
  units: UnitGraph;
  wiring: Analysed['wiring'];
  parallelism: number;
  destroy: boolean;
  /** The reviewed changes every unit plan must fit (empty for destroy runs). */
  review: ResourceChange[];
  base: TerraformBase;
  /** Outputs of the units applied so far (the inputs of their dependants). */
  outputs: Map<string, Record<string, UnitOutput>>;
  /** Is the unit's difference approved, after its `asks`-th question (a unit asks again after a lost worker)? */
  unitApproved: (scope: string, asks: number) => boolean;
  rejected: () => RejectSignal | undefined;
  /** Destroy runs: security rules over a unit's plan before it is applied; the reason when refused. */
  checkSecurity?: (unit: string, changes: ResourceChange[]) => Promise<string | undefined>;
}

/** Interprets the pure scheduler: every unit starts the moment its dependencies are done. True when all succeeded. */
export async function runUnits(r: UnitsRun): Promise<boolean> {
  // Apply activities are cancelled and waited for (tofu has stopped and released its state lock)
  // before the run goes on, e.g. to its post_apply hooks; runs started before did not wait.
  const waitForCancellation = patched('apply-waits-for-cancellation');
  // A unit whose plan fits is planned and applied by one activity on one worker (one checkout, one
  // init, the plan file never leaves the job) and its events do not hold it up; runs started before
  // called planUnit, then applyUnit, awaiting an event before each.
  const together = patched('unit-plan-apply-together');
  const progress = r.s.progress;
  // Destroy runs the same graph reversed: a unit goes once everything that depends on it is gone.
  const graph: SchedGraph = r.destroy ? reverse(r.units) : r.units;
  let state: SchedState = initialState(graph);
  const running = new Set<string>();
  const completions: Array<{ unit: string; ok: boolean; reason?: string }> = [];
  // A cancelled unit is noted, not rethrown from its own promise: nobody awaits those promises, and an
  // unhandled rejection in workflow code fails the workflow task over and over instead of the run.
  let cancelled: unknown;
  // With waitForCancellation the loop's own waits are not cancelled with the run: it learns of a
  // cancellation from the units, once their activities have ended, so it never goes on before them.
  const wait = (fn: () => boolean): Promise<void> => (waitForCancellation ? CancellationScope.nonCancellable(() => condition(fn)) : condition(fn));

  while (!isFinished(state)) {
    for (const name of readyUnits(graph, state, r.parallelism)) {
      state = nextState(state, { type: 'started', unit: name });
      running.add(name);
      void runUnit(r, name, waitForCancellation, together).then(
        (res) => { completions.push({ unit: name, ok: res.ok, reason: res.reason }); },
        (e) => {
          if (isCancellation(e)) { cancelled ??= e; running.delete(name); return; }
          const reason = describe(e);
          progress.units[name] = { ...progress.units[name], status: 'failed', reason };
          completions.push({ unit: name, ok: false, reason });
        },
      );
    }
    await wait(() => completions.length > 0 || cancelled !== undefined);
    if (cancelled !== undefined) {
      // Every unit still running is being cancelled with the run: wait until they all stopped.
      if (waitForCancellation) await wait(() => [...running].every((u) => completions.some((c) => c.unit === u)));
      throw cancelled;
    }
    for (const c of completions.splice(0)) {
      running.delete(c.unit);
      state = c.ok
        ? nextState(state, { type: 'succeeded', unit: c.unit })
        : nextState(state, { type: 'failed', unit: c.unit, reason: c.reason ?? 'failed' }, graph);
    }
    for (const [name, p] of Object.entries(state.units)) {
      if (p.status === 'skipped' && progress.units[name]!.status === 'pending') progress.units[name] = { status: 'skipped', reason: p.reason };
    }
  }
  return Object.values(state.units).every((p) => p.status === 'succeeded');
}

/** A failure of planApplyUnit worth planning again: its worker was lost, or a retryable failure before tofu applied. */
function worthAnotherPlan(e: unknown, applyBegan: boolean): 'lost' | 'retry' | undefined {
  if (!(e instanceof ActivityFailure)) return undefined;
  if (e.cause instanceof TimeoutFailure) return 'lost';
  if (!applyBegan && e.cause instanceof ApplicationFailure && !e.cause.nonRetryable && !['TerraformConfigError', 'HclError'].includes(e.cause.type ?? '')) return 'retry';
  return undefined;
}

async function runUnit(r: UnitsRun, name: string, waitForCancellation: boolean, together: boolean): Promise<{ ok: boolean; reason?: string }> {
  const { s } = r;
  const view = s.progress.units;
  const unit = r.units.units.find((u) => u.name === name)!;
  const wiring = r.wiring.units.find((w) => w.unit === name);
  const inputs: Record<string, unknown> = {};
  const inputTypes: Record<string, unknown> = {};
  const take = (variable: string, out: UnitOutput | undefined): void => {
    if (!out) return;
    inputs[variable] = out.value;
    if (out.type !== undefined) inputTypes[variable] = out.type;
  };
  for (const i of wiring?.inputs ?? []) {
    const out = r.outputs.get(i.fromUnit)?.[i.output];
    if (!out && !r.destroy) return { ok: false, reason: `input ${i.variable} needs output ${i.output} of unit ${i.fromUnit}, which produced none` };
    take(i.variable, out);
  }
  if (r.destroy) {
    // Destroying needs the upstream values the unit was configured with: read them from the states.
    const upstream = await s.onWorker(`reading outputs for ${name}`, true, (a) => a.readUnitOutputs({ run: r.base.run, unitNames: unit.dependsOn }));
    for (const i of wiring?.inputs ?? []) take(i.variable, upstream[i.fromUnit]?.[i.output]);
  }
  const input = { ...r.base, unit: name, inputs, inputTypes, destroy: r.destroy };

  // What the unit's plan must fit: the reviewed changes, or the unit plan a human approved as a difference.
  let approvedChanges: readonly ResourceChange[] = r.review;
  let asks = 0;
  const scope = `unit:${name}`;
  // Events: a unit on the `together` path does not wait for its own (they are still written in order).
  const event = async (...a: Parameters<RunSession['event']>): Promise<void> => (together ? s.eventLater(...a) : s.event(...a));
  /** The together path: an earlier attempt's apply may have begun (its worker was lost meanwhile). */
  let mayBePartlyApplied = false;
  for (let attempt = 1; ; attempt++) {
    view[name] = { status: 'planning' };
    await event('activity_started', { unit: name, step: 'plan', attempt });
    let plan: UnitPlanResult;
    /** The together path's verdict on the plan: undefined when it fits (and was applied) or has no changes. */
    let misfit: FitProblem[] | undefined;
    if (together && !r.destroy) {
      let res: UnitPlanApplyResult;
      try {
        const approved = approvedChanges.filter((c) => belongsTo(c.address, unit.members));
        res = await s.onWorker(`plan and apply of ${name}`, false, (a) => a.planApplyUnit({ ...input, approved, resumed: mayBePartlyApplied, attempt }), { waitForCancellation });
      } catch (e) {
        if (isCancellation(e)) throw e;
        const applyBegan = s.applying.get(name) === attempt;
        const again = attempt < 3 ? worthAnotherPlan(e, applyBegan) : undefined;
        if (again) {
          mayBePartlyApplied ||= applyBegan;
          log.warn(`${applyBegan ? 'apply' : 'plan'} of ${name} ${again === 'lost' ? 'lost its worker' : `failed (${describe(e)})`}; planning it again (attempt ${attempt + 1})`);
          if (again === 'retry') await sleep('2 seconds');
          continue;
        }
        const reason = describe(e);
        view[name] = { status: 'failed', reason };
        await event('activity_failed', { unit: name, step: applyBegan ? 'apply' : 'plan', attempt, reason });
        return { ok: false, reason };
      }
      plan = res.plan;
      if (res.applied) {
        r.outputs.set(name, res.applied.outputs);
        if (s.applying.get(name) !== attempt) await event('activity_started', { unit: name, step: 'apply', attempt });
        view[name] = { status: 'succeeded', counts: plan.counts };
        await event('activity_completed', { unit: name, step: 'apply', ...(attempt > 1 ? { attempt } : {}) });
        return { ok: true };
      }
      misfit = res.problems;
    } else {
      try {
        plan = await s.onWorker(`plan of ${name}`, true, (a) => a.planUnit(input));
      } catch (e) {
        if (isCancellation(e)) throw e;
        const reason = describe(e);
        view[name] = { status: 'failed', reason };
        await event('activity_failed', { unit: name, step: 'plan', attempt, reason });
        return { ok: false, reason };
      }
    }
    view[name] = { status: 'planning', counts: plan.counts };
    if (!plan.hasChanges) {
      r.outputs.set(name, plan.outputs ?? {});
      // After a lost worker, nothing left to do means the interrupted apply had finished.
      view[name] = { status: attempt > 1 ? 'succeeded' : 'no_changes', counts: plan.counts };
      await event('activity_completed', { unit: name, step: 'plan', changes: false, ...(attempt > 1 ? { recovered: true } : {}) });
      return { ok: true };
    }
    if (r.destroy && r.checkSecurity) {
      const refused = await r.checkSecurity(name, plan.changes);
      if (refused) {
        view[name] = { status: 'failed', counts: plan.counts, reason: refused };
        return { ok: false, reason: refused };
      }
    }
    if (!r.destroy) {
      // Planned again after a lost worker: approved changes already applied are no longer planned.
      const fit = misfit ? { fits: false, problems: misfit } : checkFit(approvedChanges, plan.changes, unit.members, { resumed: attempt > 1 });
      if (!fit.fits) {
        asks++;
        const reason = attempt > 1 ? 'planned again after its worker was lost, its plan differs from what was approved' : 'its plan differs from the reviewed plan';
        view[name] = { status: 'awaiting_approval', counts: plan.counts, differences: fit.problems, reason };
        // Only approvals recorded after this question count for it.
        await s.ask(scope);
        await s.event('approval_required', { scope, unit: name, attempt, reason, differences: fit.problems });
        await s.awaitDecision(() => r.unitApproved(scope, asks) || r.rejected() !== undefined);
        if (!r.unitApproved(scope, asks)) {
          view[name] = { status: 'failed', reason: `difference rejected by ${r.rejected()!.by}`, differences: fit.problems };
          return { ok: false, reason: view[name]!.reason };
        }
        approvedChanges = plan.changes;
      }
    }
    view[name] = { status: 'applying', counts: plan.counts };
    await event('activity_started', { unit: name, step: 'apply', attempt });
    try {
      const applied = await s.onWorker(`apply of ${name}`, false, (a) => a.applyUnit({ ...input, planKey: plan.planKey }), { waitForCancellation });
      r.outputs.set(name, applied.outputs);
      view[name] = { status: 'succeeded', counts: plan.counts };
      await event('activity_completed', { unit: name, step: 'apply' });
      return { ok: true };
    } catch (e) {
      // A worker that died mid-apply (heartbeat timeout) leaves a partly applied unit: plan it again
      // against the state as it is now, and apply only when that still fits what was approved.
      const crashed = e instanceof ActivityFailure && e.cause instanceof TimeoutFailure;
      if (crashed && attempt < 3) {
        mayBePartlyApplied = true;
        log.warn(`apply of ${name} lost its worker; planning it again (attempt ${attempt + 1})`);
        continue;
      }
      const reason = describe(e);
      view[name] = { status: 'failed', counts: plan.counts, reason };
      await event('activity_failed', { unit: name, step: 'apply', reason });
      return { ok: false, reason };
    }
  }
}
