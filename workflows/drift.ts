/**
 * Drift detection (README "Drift"): a Temporal Schedule per stack state with a `drift` block
 * (activities/drift-schedules.ts keeps them in step with the registry) starts
 * `driftScheduleWorkflow`, which asks the state's queue for a drift check; the api asks for one the
 * same way (POST /api/states/:id/drift).
 *
 * `driftCheckWorkflow` is a run of kind `drift` in the state's queue, so it never overlaps an apply:
 * it waits for its turn, then plans every unit of the state at its deployed commit, with refresh and
 * `-detailed-exitcode`, on a worker that matches the stack, each against its upstreams' outputs as
 * recorded in their states. It takes each unit's state lock only for that unit's plan, never applies,
 * and records per resource address the action tofu would take to restore the code's intent (no
 * values): an operation of type `drift` and one event `drift_detected`, `drift_none` or
 * `drift_failed` (with the reason). Drift found: a normal deploy run of the same commit is asked for
 * (through every gate; with `auto_remediate = false` it waits for approval).
 *
 * A failing check ends normally with phase `failed` (its schedule goes on; the next check is a new run).
 */
import { isCancellation, workflowInfo } from '@temporalio/workflow';
import type { DriftReport, DriftRequest, DriftResource } from './model/drift';
import type { PlanCounts, TerraformBase, UnitOutput } from './model/terraform';
import { driftScheduleId, type DriftScheduleInput, type RunProgress, type StackRunInput } from './definitions';
import { hooksBudgetMs, type HookRunContext } from '../policies';
import { hookEventRecord } from './gates';
import { control, hookActivities } from './stack-run/proxies';
import { awaitTurn } from './stack-run/queue';
import { isRealChange } from './stack-run/review';
import { describe, RunSession } from './stack-run/session';

/** The action of a state's drift schedule: asks the state's queue for a check (or says why not). */
export async function driftScheduleWorkflow(input: DriftScheduleInput): Promise<DriftRequest> {
  return control.requestDriftCheck({
    stateId: input.stateId, taskQueue: workflowInfo().taskQueue, trigger: { type: 'drift', by: `schedule:${driftScheduleId(input.stateId)}` },
  });
}

/** Pure: a drift report from the per-unit plans (units that failed count as a failed check). */
export function driftReport(
  commit: string, planned: Array<{ unit: string; changes?: Array<{ address: string; type: string; mode: 'managed' | 'data'; actions: string[] }>; error?: string }>,
): DriftReport {
  const resources: DriftResource[] = [];
  const units: DriftReport['units'] = {};
  const counts: PlanCounts = { add: 0, change: 0, destroy: 0, replace: 0 };
  for (const p of planned) {
    if (p.error !== undefined) {
      units[p.unit] = { status: 'failed', reason: p.error };
      continue;
    }
    const real = (p.changes ?? []).filter((c) => isRealChange({ ...c, after: null, afterUnknown: null }));
    for (const c of real) {
      resources.push({ unit: p.unit, address: c.address, type: c.type, actions: [...c.actions] });
      const a = c.actions;
      if (a.length === 2 && a.includes('delete') && a.includes('create')) counts.replace++;
      else if (a[0] === 'create') counts.add++;
      else if (a[0] === 'update') counts.change++;
      else if (a[0] === 'delete') counts.destroy++;
    }
    units[p.unit] = { status: real.length ? 'drift' : 'clean' };
  }
  const failed = Object.entries(units).filter(([, u]) => u.status === 'failed');
  if (failed.length) {
    return { outcome: 'failed', commit, resources, counts, units, reason: `units failed: ${failed.map(([u, v]) => `${u} (${v.reason})`).join('; ')}` };
  }
  return { outcome: resources.length ? 'drift' : 'none', commit, resources, counts, units };
}

export async function driftCheckWorkflow(input: StackRunInput): Promise<RunProgress> {
  const s = new RunSession(input);
  await s.load();
  const ended = await awaitTurn(s);
  if (ended) return ended;
  const { ctx, progress } = s;
  let report: DriftReport;
  try {
    s.setPhase('planning');
    await s.event('plan_initiated', { commit: input.commit, trigger: input.trigger, drift: true });
    report = await planAll(s);
  } catch (e) {
    if (isCancellation(e)) {
      await s.finish('cancelled', 'cancelled');
      throw e;
    }
    report = { outcome: 'failed', commit: input.commit, resources: [], counts: { add: 0, change: 0, destroy: 0, replace: 0 }, units: {}, reason: describe(e) };
  }
  if (report.outcome === 'drift') {
    // Never applied here: a normal run of the same commit, through every gate, restores the code's intent.
    const r = await control.requestRemediation({
      stateId: ctx.stateId, stackCodeId: ctx.stackCodeId, commit: input.commit, checkRunId: s.workflowId, taskQueue: workflowInfo().taskQueue,
    });
    report.remediation = 'runId' in r ? { runId: r.runId, ...(r.needsApproval !== undefined ? { needsApproval: r.needsApproval } : {}) } : { skipped: r.skipped };
  }
  progress.drift = report;
  progress.review = { counts: report.counts, changes: report.resources.map((r) => ({ address: r.address, actions: r.actions })) };
  if (report.reason) progress.error = report.reason;
  await control.recordDriftResult({ ctx, operationId: s.operationId, workflowId: s.workflowId, report });
  if (report.outcome === 'drift' && (ctx.config.hooks.driftDetected?.length ?? 0) > 0) await driftHooks(s, report);
  s.setPhase(report.outcome === 'failed' ? 'failed' : report.outcome === 'drift' ? 'succeeded' : 'no_changes');
  return progress;
}

/**
 * The stack's `drift_detected` hooks (stack.hcl `hooks { drift_detected = [...] }`), told the drifted
 * addresses and actions (never values) and the remediation run. Their failures are recorded, never
 * more: the drift is already recorded.
 */
async function driftHooks(s: RunSession, report: DriftReport): Promise<void> {
  const { input, ctx } = s;
  try {
    const policies = await s.onWorker('loading hooks', true, (a) => a.loadRunPolicies({ source: s.source }));
    const defs = policies.hooks.drift_detected ?? [];
    if (defs.length === 0) return;
    const context: HookRunContext = {
      event: 'drift_detected', runId: s.workflowId, kind: input.kind, stack: ctx.stack, state: ctx.state, environment: ctx.environment,
      commit: input.commit, plan: report.counts, triggeredBy: input.trigger.by,
      drift: {
        resources: report.resources.map((r) => ({ unit: r.unit, address: r.address, actions: r.actions })),
        ...(report.remediation?.runId ? { remediationRunId: report.remediation.runId } : {}),
      },
    };
    const results = await hookActivities(hooksBudgetMs(defs)).runHooks({ event: 'drift_detected', hooks: defs, context });
    for (const r of results) await s.event(r.ok ? 'hook_completed' : 'hook_failed', hookEventRecord(r, defs.find((d) => d.name === r.hook)?.continueOnFailure ?? false));
  } catch (e) {
    if (isCancellation(e)) throw e;
    await s.event('hook_failed', { event: 'drift_detected', ok: false, message: describe(e) });
  }
}

/** Every unit planned (up to the stack's parallelism at once) against its upstreams' recorded outputs. */
async function planAll(s: RunSession): Promise<DriftReport> {
  const { input, ctx, progress } = s;
  const analysis = await s.onWorker('analysing the stack', true, (a) => a.analyzeStack({ source: s.source }));
  const units = analysis.units;
  for (const u of units.units) progress.units[u.name] = { status: 'pending' };
  const base: TerraformBase = { source: s.source, run: s.run, units, variables: ctx.variables };
  // What each unit was last applied with: its upstreams' outputs as their states record them.
  const outputs: Record<string, Record<string, UnitOutput>> = units.units.some((u) => u.dependsOn.length)
    ? await s.onWorker('reading unit outputs', true, (a) => a.readUnitOutputs({ run: s.run, unitNames: units.units.map((u) => u.name) }))
    : {};
  const planned: Parameters<typeof driftReport>[1] = [];
  const todo = units.units.map((u) => u.name);
  const planOne = async (name: string): Promise<void> => {
    const wiring = analysis.wiring.units.find((w) => w.unit === name);
    const inputs: Record<string, unknown> = {};
    const inputTypes: Record<string, unknown> = {};
    for (const i of wiring?.inputs ?? []) {
      const out = outputs[i.fromUnit]?.[i.output];
      if (!out) {
        const reason = `input ${i.variable} needs output ${i.output} of unit ${i.fromUnit}, which its state does not record`;
        progress.units[name] = { status: 'failed', reason };
        planned.push({ unit: name, error: reason });
        return;
      }
      inputs[i.variable] = out.value;
      if (out.type !== undefined) inputTypes[i.variable] = out.type;
    }
    progress.units[name] = { status: 'planning' };
    try {
      const plan = await s.onWorker(`drift plan of ${name}`, true, (a) => a.planUnit({ ...base, unit: name, inputs, inputTypes, drift: true }));
      progress.units[name] = plan.changes.some(isRealChange) ? { status: 'succeeded', counts: plan.counts, reason: 'drifted' } : { status: 'no_changes', counts: plan.counts };
      planned.push({ unit: name, changes: plan.changes });
    } catch (e) {
      if (isCancellation(e)) throw e;
      const reason = describe(e);
      progress.units[name] = { status: 'failed', reason };
      planned.push({ unit: name, error: reason });
    }
  };
  const lanes = Math.max(1, Math.min(ctx.config.parallelism, todo.length));
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let next = todo.shift(); next !== undefined; next = todo.shift()) await planOne(next);
  }));
  // In graph order, whatever order the plans finished in.
  const order = new Map(units.units.map((u, i) => [u.name, i]));
  planned.sort((a, b) => order.get(a.unit)! - order.get(b.unit)!);
  return driftReport(input.commit, planned);
}
