/**
 * StackRunWorkflow: one run of one stack state (deploy, or destroy in reverse order).
 *
 *   load context → find a worker queue (wait visibly while none) → analyse units →
 *   review plan of the whole root against the merged unit states → approval (unless auto_deploy) →
 *   units in graph order, each as soon as its dependencies are applied: plan with real upstream
 *   outputs → fit check against the review → (ask again only for a difference) → apply the saved plan.
 *
 * Workflow code: deterministic; imports @temporalio/workflow, pure sibling modules and types.
 */
import {
  ApplicationFailure, CancellationScope, condition, isCancellation, log, patched, proxyActivities,
  setHandler, sleep, upsertSearchAttributes, workflowInfo, ActivityFailure, TimeoutFailure,
} from '@temporalio/workflow';
import type { ControlActivities, ExecutionActivities } from '../activities';
import type { RunContext } from '../activities/runs';
import type { ResourceChange, ReviewPlan, RunRef, StackSource, UnitOutput, UnitPlanResult } from '../activities/terraform/types';
export { approveSignal, progressQuery, rejectSignal };
export type { RunProgress, RunPhase };
import type { EventType } from '../db/tables/events';
import { hooksBudgetMs, type HookEvent, type HookRunContext, type RunHooks } from '../policies';
import type { Requirement } from './capabilities';
import {
  approveSignal, progressQuery, queuePositionSignal, rejectSignal, supersedeSignal, turnSignal,
  type ApproveSignal, type RejectSignal, type RunPhase, type RunProgress, type StackRunInput, type SupersedeSignal,
} from './definitions';
import { checkFit } from './fit';
import {
  approvalGate, decisionRecords, hasApprovalPolicy, hookEventRecord, hookStopReason, prePlanDecisions, rejectionIgnoredReason,
  securityVerdict, toApprovals, unitSecurityDecisions, validRejection, windowGate, type GateContext,
} from './gates';
import type { UnitGraph } from './graph-types';
import { initialState, isFinished, nextState, readyUnits, type SchedState } from './scheduler';

/**
 * Light, quick control activities: Postgres and routing. No task queue given: they run on the
 * workflow's own queue, i.e. on the control worker that runs this workflow.
 */
const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 },
});

/**
 * tofu activities on an execution queue. `scheduleToStartTimeout` bounds the wait for a worker on the
 * chosen queue (it is not retried: on expiry the run goes back to routing); the heartbeat timeout is
 * how fast a dead worker is noticed; plan and analysis are retried, apply is not (a crashed apply is
 * re-planned and checked against the review instead, see applyWithRecovery).
 */
function exec(taskQueue: string, retry: boolean) {
  return proxyActivities<ExecutionActivities>({
    taskQueue,
    scheduleToStartTimeout: '2 minutes',
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '30 seconds',
    retry: retry
      ? { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ['TerraformConfigError', 'HclError'] }
      : { maximumAttempts: 1 },
  });
}

const WORKER_POLL = '5 seconds';

/** The hook runner (control worker): each event's budget is the sum of its hooks' timeouts. */
function hookRunner(budgetMs: number) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: budgetMs + 30_000,
    retry: { initialInterval: '1 second', maximumAttempts: 3 },
  });
}

export async function stackRunWorkflow(input: StackRunInput): Promise<RunProgress> {
  const { workflowId } = workflowInfo();
  const progress: RunProgress = { workflowId, kind: input.kind, phase: 'starting', commit: input.commit, units: {}, approvals: [] };
  const approvals: ApproveSignal[] = [];
  /** Every rejection received; only one that counts (validRejection) ends the run. */
  const rejections: RejectSignal[] = [];

  setHandler(progressQuery, () => progress);
  setHandler(approveSignal, (a) => {
    approvals.push(a);
    progress.approvals.push({ by: a.by, scope: a.scope ?? 'review', ...(a.comment ? { comment: a.comment } : {}) });
  });
  setHandler(rejectSignal, (r) => {
    rejections.push(r);
  });

  const setPhase = (phase: RunPhase, waitingReason?: string) => {
    progress.phase = phase;
    progress.waitingReason = waitingReason;
    upsertSearchAttributes({ StacklyStatus: [phase] });
  };

  // Started by the state's queue: queued from the first moment, naming the run it waits for.
  let turn = false;
  const waitFor = (runId: string | undefined) => {
    progress.waitingFor = runId;
    if (progress.phase === 'queued') progress.waitingReason = runId ? `waiting for run ${runId} of this state to finish` : 'waiting for its turn';
  };
  if (input.queue) {
    setHandler(turnSignal, () => { turn = true; });
    setHandler(queuePositionSignal, ({ waitingFor }) => waitFor(waitingFor));
    progress.phase = 'queued';
    waitFor(input.queue.waitingFor);
  }

  const ctx = await control.loadRunContext(input);
  progress.stack = ctx.stack;
  progress.state = ctx.state;
  upsertSearchAttributes({
    StacklyStack: [ctx.stack], StacklyState: [ctx.state], StacklyEnvironment: [ctx.environment],
    StacklyCommit: [input.commit], StacklyRunKind: [input.kind], StacklyStatus: [input.queue ? 'queued' : 'starting'],
  });
  // A queued run's operation is pending until its turn.
  const operationId = await control.startOperation({ ctx, workflowId, kind: input.kind, triggeredBy: input.trigger.by, ...(input.queue ? { status: 'pending' as const } : {}) });
  let seq = 0;
  const event = (type: EventType, payload: Record<string, unknown> = {}) =>
    control.emitRunEvent({ ctx, operationId, type, payload: { workflow_id: workflowId, ...payload }, dedupeKey: `${workflowId}:${++seq}:${type}` });

  const source: StackSource = { repoUrl: ctx.repoUrl, commit: input.commit, stackPath: ctx.stackPath };
  const run: RunRef = { account: ctx.account, stack: ctx.stack, state: ctx.state, stateId: ctx.stateId, statePrefix: ctx.stateKeyPrefix, runId: workflowId };
  const requires: Requirement = ctx.config.requires;

  /** A task queue with a live matching worker; waits (visibly, durably) until there is one. */
  const route = async (): Promise<string> => {
    let announced = false;
    for (;;) {
      const r = await control.findTaskQueue(requires);
      if (r.ok) {
        if (announced) setPhase(progress.phase === 'waiting_for_worker' ? 'planning' : progress.phase);
        return r.taskQueue;
      }
      if (!announced) {
        announced = true;
        setPhase('waiting_for_worker', r.reason);
        await event('worker_wait', { reason: r.reason });
      }
      await sleep(WORKER_POLL);
    }
  };

  /** Runs an execution activity, re-routing when the chosen queue has no worker to start it. */
  const onWorker = async <T>(what: string, retry: boolean, call: (a: ReturnType<typeof exec>) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const q = await route();
      try {
        return await call(exec(q, retry));
      } catch (e) {
        if (e instanceof ActivityFailure && e.cause instanceof TimeoutFailure && e.cause.timeoutType === 'SCHEDULE_TO_START' && attempt < 50) {
          log.warn(`${what}: no worker picked it up on ${q}; routing again`);
          continue;
        }
        throw e;
      }
    }
  };

  const finish = async (phase: RunPhase, error?: string): Promise<RunProgress> => {
    setPhase(phase);
    if (error) progress.error = error;
    const status = phase === 'succeeded' || phase === 'no_changes' ? 'succeeded'
      : phase === 'cancelled' || phase === 'superseded' ? phase : 'failed';
    await CancellationScope.nonCancellable(async () => {
      await control.updateOperation({
        operationId, status,
        ...(error ? { error: { message: error, units: failedUnits(progress) } } : {}),
        metadata: { phase, review: progress.review?.counts ?? null, ...(progress.supersededBy ? { superseded_by: progress.supersededBy } : {}) },
      });
      const type: EventType = status === 'succeeded' ? 'deploy_completed' : phase === 'cancelled' ? 'run_cancelled'
        : phase === 'superseded' ? 'run_superseded' : 'deploy_failed';
      await event(type, { phase, ...(error ? { error } : {}), failed_units: failedUnits(progress), ...(progress.supersededBy ? { superseded_by: progress.supersededBy } : {}) });
    });
    return progress;
  };

  // post_apply hooks run once the apply has started, however it ends (also on a failure after the
  // units, or a cancellation); set when the hooks are known.
  let postApply: ((outcome: 'succeeded' | 'failed' | 'no_changes' | 'cancelled') => Promise<unknown>) | undefined;
  let applyStarted = false;

  // One run at a time per state (workflows/state-queue.ts): a newer run of the state supersedes this
  // one until it begins to apply; from then on it always finishes.
  let superseded: SupersedeSignal | undefined;
  const beforeApply = new CancellationScope();
  setHandler(supersedeSignal, (s) => {
    if (applyStarted || superseded) return;
    superseded = s;
    progress.supersededBy = s.by;
    beforeApply.cancel();
  });
  const supersededReason = () => `${superseded!.reason} (run ${superseded!.by})`;
  if (input.queue) {
    await event('run_queued', { waiting_for: input.queue.waitingFor ?? null, generation: input.generation ?? null });
    try {
      await condition(() => turn || superseded !== undefined);
    } catch (e) {
      // Cancelled by a user while it waited: nothing ran.
      if (isCancellation(e)) await finish('cancelled', 'cancelled while queued');
      throw e;
    }
    progress.waitingFor = undefined;
    if (superseded) return await finish('superseded', supersededReason());
    // The queue only knows what it was asked in order; the registry knows whether a newer commit came since.
    const fresh = await control.checkRunCurrent({ stateId: input.stateId, kind: input.kind, generation: input.generation });
    if (!fresh.current) return await finish('superseded', fresh.reason);
    await control.updateOperation({ operationId, status: 'running' });
  }

  try {
    return await beforeApply.run(() => body());
  } catch (e) {
    if (superseded && isCancellation(e) && !applyStarted) return await finish('superseded', supersededReason());
    throw e;
  }

  async function body(): Promise<RunProgress> {
  try {
    setPhase('planning');
    await event('plan_initiated', { commit: input.commit, trigger: input.trigger });
    const analysis = await onWorker('analysing the stack', true, (a) => a.analyzeStack({ source }));
    const units = analysis.units;
    for (const u of units.units) progress.units[u.name] = { status: 'pending' };

    // Validation pipeline (issue 7): syntax (the analysis above) → policy compliance → security rules over the plan.
    const pol = await onWorker('loading policies', true, (a) => a.loadRunPolicies({ source }));
    const gates: GateContext = { policies: pol.policies, environment: ctx.environment, state: ctx.state, author: input.trigger.author };
    await event('policy_check', { stage: 'pre_plan', outcome: 'pass', policies: pol.policies.map((p) => p.name), decisions: decisionRecords(prePlanDecisions(gates, Date.now())) });

    // Only a rejection that counts ends the run (group-checked like approvals); others are recorded.
    let rejectionsSeen = 0;
    const rejected = (): RejectSignal | undefined => validRejection(gates, rejections);
    const noteRejections = async () => {
      for (; rejectionsSeen < rejections.length; rejectionsSeen++) {
        const r = rejections[rejectionsSeen];
        const why = rejectionIgnoredReason(gates, r);
        if (why) await event('approval_rejected', { by: r.by, scope: r.scope ?? 'review', counted: false, reason: why });
      }
    };
    const rejectedReason = (r: RejectSignal) => `rejected by ${r.by}${r.reason ? `: ${r.reason}` : ''}`;

    // Hooks (stack.hcl `hooks`): run by a control activity in priority order; each result is an event.
    const hooks: RunHooks = pol.hooks;
    const runHooks = async (e: HookEvent, outcome?: HookRunContext['outcome']): Promise<string | undefined> => {
      const defs = hooks[e] ?? [];
      if (defs.length === 0) return undefined;
      const context: HookRunContext = {
        event: e, runId: workflowId, kind: input.kind, stack: ctx.stack, state: ctx.state, environment: ctx.environment,
        commit: input.commit, plan: progress.review?.counts ?? null, triggeredBy: input.trigger.by, ...(outcome ? { outcome } : {}),
      };
      const results = await hookRunner(hooksBudgetMs(defs)).runHooks({ event: e, hooks: defs, context });
      for (const r of results) {
        const def = defs.find((d) => d.name === r.hook);
        await event(r.ok ? 'hook_completed' : 'hook_failed', hookEventRecord(r, def?.continueOnFailure ?? false));
      }
      return hookStopReason(e, results);
    };

    let postApplyRan = false;
    postApply = async (outcome) => {
      if (postApplyRan) return;
      postApplyRan = true;
      await runHooks('post_apply', outcome);
    };

    const prePlanStop = await runHooks('pre_plan');
    if (prePlanStop) return await finish('failed', prePlanStop);

    const base = { source, run, units, variables: ctx.variables };
    let review: ReviewPlan | undefined;
    // A destroy run shows what it removes and checks it against the security rules before asking
    // anyone (runs started before this version skip it, as they did).
    const destroyReview = input.kind === 'destroy' && patched('destroy-review-plan');
    if (input.kind !== 'destroy' || destroyReview) {
      review = await onWorker('review plan', true, (a) => a.planReview(destroyReview ? { ...base, destroy: true } : base));
      progress.review = { counts: review.counts, changes: review.changes.filter(isRealChange).map((c) => ({ address: c.address, actions: c.actions })) };
      await event('plan_completed', { counts: review.counts, plan_json_key: review.planJsonKey });
      await runHooks('post_plan');
      if (pol.policies.some((p) => p.security)) {
        const planJsonKey = review.planJsonKey;
        const sec = await onWorker('security policies', true, (a) => a.evaluatePlanPolicies({ policies: pol.policies, planJsonKey, now: Date.now(), environment: gates.environment, state: gates.state }));
        const verdict = securityVerdict(sec.decisions);
        await event('policy_check', { stage: 'post_plan', outcome: verdict.ok ? 'pass' : 'fail', decisions: decisionRecords(sec.decisions) });
        if (!verdict.ok) return await finish('failed', verdict.reason);
      }
    }

    // Nothing to approve when the review plan changes nothing: the unit plans confirm it, nothing applies.
    const nothingToReview = review !== undefined && progress.review!.changes.length === 0;
    const policyApproval = hasApprovalPolicy(gates);
    // A state whose deployed commit is gone from the branch (history rewritten) is never changed unasked.
    const needsApproval = (policyApproval || !ctx.config.autoDeploy || input.kind === 'destroy' || ctx.deployedCommitUnreachable) && !nothingToReview;
    if (needsApproval && policyApproval) {
      setPhase('awaiting_approval', 'waiting for approval of the plan');
      await event('approval_required', { scope: 'review' });
      await noteRejections();
      let g = approvalGate(gates, Date.now(), toApprovals(approvals, rejections));
      while (g.verdict === 'require_approval' && rejected() === undefined) {
        progress.waitingReason = g.reason;
        const seen = approvals.length;
        const seenRejections = rejections.length;
        await condition(() => rejections.length > seenRejections || approvals.length > seen);
        await noteRejections();
        g = approvalGate(gates, Date.now(), toApprovals(approvals, rejections));
      }
      const rej = rejected();
      await event('policy_check', { stage: 'pre_apply', rule: 'approval', outcome: rej || g.verdict !== 'allow' ? 'fail' : 'pass', decisions: decisionRecords(g.decisions) });
      if (rej) return await finish('rejected', rejectedReason(rej));
      if (g.verdict !== 'allow') return await finish('rejected', g.reason);
      await event('approval_received', { scope: 'review', by: g.decisions.flatMap((d) => d.approval?.approvedBy ?? []) });
    } else if (needsApproval) {
      setPhase('awaiting_approval', 'waiting for approval of the plan');
      await event('approval_required', { scope: 'review' });
      await condition(() => rejected() !== undefined || approvals.some((a) => (a.scope ?? 'review') === 'review'));
      const rej = rejected();
      if (rej) return await finish('rejected', rejectedReason(rej));
      await event('approval_received', { scope: 'review', by: approvals.find((a) => (a.scope ?? 'review') === 'review')!.by });
    }

    // Deployment windows: queue = durable timer until the window opens; reject = the run fails.
    for (let announced = false; !nothingToReview;) {
      const w = windowGate(gates, Date.now());
      if (w.verdict === 'allow') {
        if (w.decisions.length > 0) await event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'pass', decisions: decisionRecords(w.decisions) });
        break;
      }
      if (w.verdict !== 'queue') {
        await event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'fail', decisions: decisionRecords(w.decisions) });
        return await finish('failed', w.reason);
      }
      if (!announced) {
        announced = true;
        await event('policy_check', { stage: 'pre_apply', rule: 'deployment_window', outcome: 'queue', decisions: decisionRecords(w.decisions) });
      }
      setPhase('queued', w.reason);
      await sleep(w.sleepMs ?? 60_000);
    }

    const preApplyStop = await runHooks('pre_apply');
    if (preApplyStop) return await finish('failed', preApplyStop);

    setPhase('applying');
    await event('deploy_initiated', { parallelism: ctx.config.parallelism });
    applyStarted = true;
    const outputs = new Map<string, Record<string, UnitOutput>>();
    const ok = await runUnits({
      units, parallelism: ctx.config.parallelism, destroy: input.kind === 'destroy', progress, outputs,
      wiring: analysis.wiring, review: review?.changes ?? [], event, onWorker, base,
      approvalsOf: (scope) => approvals.filter((a) => a.scope === scope).length, rejected,
      checkSecurity: input.kind === 'destroy' && pol.policies.some((p) => p.security)
        ? async (unit, changes) => {
          const decisions = unitSecurityDecisions(gates, Date.now(), changes);
          const verdict = securityVerdict(decisions);
          await event('policy_check', { stage: 'post_plan', unit, outcome: verdict.ok ? 'pass' : 'fail', decisions: decisionRecords(decisions) });
          return verdict.ok ? undefined : verdict.reason;
        }
        : undefined,
    });
    if (!ok) {
      await postApply('failed');
      return await finish('failed', unitsFailedMessage(progress));
    }

    if (input.kind !== 'destroy') {
      const rootOutputs = await onWorker('root outputs', true, (a) => a.evaluateOutputs({ ...base, unitOutputs: Object.fromEntries(outputs) }));
      progress.outputs = Object.fromEntries(Object.entries(rootOutputs).map(([k, v]) => [k, v.sensitive ? { value: '(sensitive)', sensitive: true } : v]));
    }
    await control.markStateDeployed({ stateId: ctx.stateId, commit: input.commit, kind: input.kind });
    const changed = Object.values(progress.units).some((u) => u.status === 'succeeded');
    await postApply(changed || input.kind === 'destroy' ? 'succeeded' : 'no_changes');
    return await finish(changed || input.kind === 'destroy' ? 'succeeded' : 'no_changes');
  } catch (e) {
    const hooksAfterApply = applyStarted && postApply !== undefined && patched('post-apply-on-failure');
    // Superseded before it applied: the caller records that (not a cancellation by a user).
    if (isCancellation(e) && superseded && !applyStarted) throw e;
    if (isCancellation(e)) {
      if (hooksAfterApply) await CancellationScope.nonCancellable(() => postApply!('cancelled')).catch(() => undefined);
      await finish('cancelled', 'cancelled');
      throw e;
    }
    const msg = e instanceof ApplicationFailure || e instanceof ActivityFailure ? describe(e) : String(e);
    if (hooksAfterApply) await postApply!('failed').catch(() => undefined);
    await finish('failed', msg);
    throw ApplicationFailure.nonRetryable(msg, 'StackRunFailed');
  }
  }
}

function describe(e: unknown): string {
  let cur: unknown = e;
  const parts: string[] = [];
  while (cur instanceof Error) {
    if (cur.message && !parts.includes(cur.message)) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

const isRealChange = (c: ResourceChange) => c.mode === 'managed' && !(c.actions.length === 1 && (c.actions[0] === 'no-op' || c.actions[0] === 'read'));

/** The units that failed, and those not run because an upstream failed, each with its reason. */
function failedUnits(p: RunProgress): Array<{ unit: string; status: 'failed' | 'skipped'; reason: string }> {
  return Object.entries(p.units)
    .filter(([, u]) => u.status === 'failed' || u.status === 'skipped')
    .map(([unit, u]) => ({ unit, status: u.status as 'failed' | 'skipped', reason: u.reason ?? u.status }));
}

function unitsFailedMessage(p: RunProgress): string {
  const all = failedUnits(p);
  const failed = all.filter((f) => f.status === 'failed').map((f) => `${f.unit} (${f.reason})`);
  const skipped = all.filter((f) => f.status === 'skipped').map((f) => f.unit);
  return `units failed: ${failed.join('; ')}${skipped.length ? `; not run because an upstream failed: ${skipped.join(', ')}` : ''}`;
}

interface UnitsRun {
  units: UnitGraph;
  parallelism: number;
  destroy: boolean;
  progress: RunProgress;
  outputs: Map<string, Record<string, UnitOutput>>;
  wiring: Awaited<ReturnType<ExecutionActivities['analyzeStack']>>['wiring'];
  review: ResourceChange[];
  base: { source: StackSource; run: RunRef; units: UnitGraph; variables: Record<string, unknown> };
  event: (type: EventType, payload?: Record<string, unknown>) => Promise<void>;
  onWorker: <T>(what: string, retry: boolean, call: (a: ReturnType<typeof exec>) => Promise<T>) => Promise<T>;
  /** How many approvals the run received for `scope` (a unit asks again after a lost worker: one more each time). */
  approvalsOf: (scope: string) => number;
  rejected: () => RejectSignal | undefined;
  /** Destroy runs (no review plan): security rules over a unit's plan before it is applied; the reason when refused. */
  checkSecurity?: (unit: string, changes: ResourceChange[]) => Promise<string | undefined>;
}

/** Interprets the pure scheduler: every unit starts the moment its dependencies are done. */
async function runUnits(r: UnitsRun): Promise<boolean> {
  // Destroy runs the same graph reversed: a unit goes once everything that depends on it is gone.
  const graph = r.destroy ? reverseGraph(r.units) : r.units;
  let state: SchedState = initialState(graph);
  const running = new Map<string, Promise<void>>();
  const completions: Array<{ unit: string; ok: boolean; reason?: string }> = [];
  // A cancelled unit is noted, not rethrown from its own promise: nobody awaits those promises, and an
  // unhandled rejection in workflow code fails the workflow task over and over instead of the run.
  let cancelled: unknown;

  while (!isFinished(state)) {
    for (const name of readyUnits(graph, state, r.parallelism)) {
      state = nextState(state, { type: 'started', unit: name });
      running.set(name, runUnit(r, name).then(
        (res) => { completions.push({ unit: name, ok: res.ok, reason: res.reason }); },
        (e) => {
          if (isCancellation(e)) { cancelled ??= e; return; }
          const reason = describe(e);
          r.progress.units[name] = { ...r.progress.units[name], status: 'failed', reason };
          completions.push({ unit: name, ok: false, reason });
        },
      ));
    }
    await condition(() => completions.length > 0 || cancelled !== undefined);
    if (cancelled !== undefined) throw cancelled;
    for (const c of completions.splice(0)) {
      running.delete(c.unit);
      state = c.ok
        ? nextState(state, { type: 'succeeded', unit: c.unit })
        : nextState(state, { type: 'failed', unit: c.unit, reason: c.reason ?? 'failed' }, graph);
    }
    for (const [name, p] of Object.entries(state.units)) {
      if (p.status === 'skipped' && r.progress.units[name].status === 'pending') r.progress.units[name] = { status: 'skipped', reason: p.reason };
    }
  }
  return Object.values(state.units).every((p) => p.status === 'succeeded');
}

function reverseGraph(g: UnitGraph): UnitGraph {
  const dependants = new Map<string, string[]>(g.units.map((u) => [u.name, []]));
  for (const u of g.units) for (const d of u.dependsOn) dependants.get(d)?.push(u.name);
  return { ...g, units: [...g.units].reverse().map((u) => ({ ...u, dependsOn: [...(dependants.get(u.name) ?? [])].sort() })) };
}

async function runUnit(r: UnitsRun, name: string): Promise<{ ok: boolean; reason?: string }> {
  const view = r.progress.units;
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
    const upstream = await r.onWorker(`reading outputs for ${name}`, true, (a) => a.readUnitOutputs({ run: r.base.run, unitNames: unit.dependsOn }));
    for (const i of wiring?.inputs ?? []) take(i.variable, upstream[i.fromUnit]?.[i.output]);
  }
  const input = { ...r.base, unit: name, inputs, inputTypes, destroy: r.destroy };

  // What the unit's plan must fit: the reviewed changes, or the unit plan a human approved as a difference.
  let approvedChanges: readonly ResourceChange[] = r.review;
  let asks = 0;
  const scope = `unit:${name}`;
  for (let attempt = 1; ; attempt++) {
    view[name] = { status: 'planning' };
    await r.event('activity_started', { unit: name, step: 'plan', attempt });
    let plan: UnitPlanResult;
    try {
      plan = await r.onWorker(`plan of ${name}`, true, (a) => a.planUnit(input));
    } catch (e) {
      if (isCancellation(e)) throw e;
      const reason = describe(e);
      view[name] = { status: 'failed', reason };
      await r.event('activity_failed', { unit: name, step: 'plan', attempt, reason });
      return { ok: false, reason };
    }
    view[name] = { status: 'planning', counts: plan.counts };
    if (!plan.hasChanges) {
      r.outputs.set(name, plan.outputs ?? {});
      // After a lost worker, nothing left to do means the interrupted apply had finished.
      view[name] = { status: attempt > 1 ? 'succeeded' : 'no_changes', counts: plan.counts };
      await r.event('activity_completed', { unit: name, step: 'plan', changes: false, ...(attempt > 1 ? { recovered: true } : {}) });
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
      const fit = checkFit(approvedChanges, plan.changes, unit.members, { resumed: attempt > 1 });
      if (!fit.fits) {
        asks++;
        const reason = attempt > 1 ? 'planned again after its worker was lost, its plan differs from what was approved' : 'its plan differs from the reviewed plan';
        view[name] = { status: 'awaiting_approval', counts: plan.counts, differences: fit.problems, reason };
        await r.event('approval_required', { scope, unit: name, attempt, reason, differences: fit.problems });
        await condition(() => r.approvalsOf(scope) >= asks || r.rejected() !== undefined);
        if (r.approvalsOf(scope) < asks) {
          view[name] = { status: 'failed', reason: `difference rejected by ${r.rejected()!.by}`, differences: fit.problems };
          return { ok: false, reason: view[name].reason };
        }
        approvedChanges = plan.changes;
      }
    }
    view[name] = { status: 'applying', counts: plan.counts };
    await r.event('activity_started', { unit: name, step: 'apply', attempt });
    try {
      const applied = await r.onWorker(`apply of ${name}`, false, (a) => a.applyUnit({ ...input, planKey: plan.planKey }));
      r.outputs.set(name, applied.outputs);
      view[name] = { status: 'succeeded', counts: plan.counts };
      await r.event('activity_completed', { unit: name, step: 'apply' });
      return { ok: true };
    } catch (e) {
      // A worker that died mid-apply (heartbeat timeout) leaves a partly applied unit: plan it again
      // against the state as it is now, and apply only when that still fits what was approved.
      const crashed = e instanceof ActivityFailure && e.cause instanceof TimeoutFailure;
      if (crashed && attempt < 3) {
        log.warn(`apply of ${name} lost its worker; planning it again (attempt ${attempt + 1})`);
        continue;
      }
      const reason = describe(e);
      view[name] = { status: 'failed', counts: plan.counts, reason };
      await r.event('activity_failed', { unit: name, step: 'apply', reason });
      return { ok: false, reason };
    }
  }
}

export type { RunContext };
