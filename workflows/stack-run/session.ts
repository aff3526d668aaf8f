/**
 * The state of one run that every phase shares: its progress (what the `progress` query answers),
 * the signals it received (approvals, rejections, its turn in the state queue, a supersede), its
 * context from the registry, its operation and events, and routing of tofu activities to a matching
 * worker. Phases read and change it; nothing else is shared between them.
 */
import {
  ActivityFailure, CancellationScope, TimeoutFailure, condition, log, patched, setHandler, sleep, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { RecordedApproval, RunContext } from '../model/run';
import type { PlanCounts, RunRef, StackSource } from '../model/terraform';
import type { EventType } from '../../db/tables/events';
import {
  approveSignal, progressQuery, queuePositionSignal, rejectSignal, supersedeSignal, turnSignal, unitApplyingSignal,
  type ApproveSignal, type RejectSignal, type RunPhase, type RunProgress, type StackRunInput, type SupersedeSignal,
} from '../definitions';
import { control, exec, type Exec } from './proxies';

const WORKER_POLL = '5 seconds';
/** A queue found for this run is used again without asking for this long (a queue that stops starting work is routed again). */
const ROUTE_REUSE_MS = 10_000;
/** While waiting for a decision, the recorded approvals are read again at least this often (a nudge the api could not deliver). */
const APPROVALS_REREAD = '5 minutes';

/** The units that failed, and those not run because an upstream failed, each with its reason. */
export function failedUnits(p: RunProgress): Array<{ unit: string; status: 'failed' | 'skipped'; reason: string }> {
  return Object.entries(p.units)
    .filter(([, u]) => u.status === 'failed' || u.status === 'skipped')
    .map(([unit, u]) => ({ unit, status: u.status as 'failed' | 'skipped', reason: u.reason ?? u.status }));
}

/** A failure and its causes as one line. */
export function describe(e: unknown): string {
  let cur: unknown = e;
  const parts: string[] = [];
  while (cur instanceof Error) {
    if (cur.message && !parts.includes(cur.message)) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

export class RunSession {
  readonly workflowId = workflowInfo().workflowId;
  readonly progress: RunProgress;
  /**
   * Approvals are what the api recorded in Postgres for this run, read back by a control activity; an
   * approve or reject signal only says that there is something new to read, so a signal sent straight
   * to Temporal adds nothing. Runs started before this counted the signals themselves (kept for them).
   */
  readonly trustsRecords: boolean;
  private readonly signalled = { approvals: [] as ApproveSignal[], rejections: [] as RejectSignal[] };
  private recorded: RecordedApproval[] = [];
  /** When the run asked for each scope's approval (database clock): only later approvals count for it. */
  private readonly askedAt = new Map<string, number>();
  private nudges = 0;
  /** How many nudges had come when the approvals were last read: a later one means read again. */
  private nudgesRead = 0;
  /** The state queue gave this run its turn. */
  turn = false;
  /** A newer run of the state asked this one to step aside (honoured only before it applies). */
  superseded: SupersedeSignal | undefined;
  /** Units have begun to apply: from here on the run always finishes (never superseded). */
  applyStarted = false;
  /** Everything before the units apply runs in this scope, so a supersede can cancel it. */
  readonly beforeApply = new CancellationScope();
  private loaded: { ctx: RunContext; operationId: string } | undefined;
  private seq = 0;
  /**
   * Events are written in order by one writer, all those waiting in one activity (emitRunEvents), and
   * a unit need not wait for its own (`eventLater`); runs started before wrote each with its own
   * emitRunEvent and waited for it.
   */
  private readonly batchedEvents: boolean;
  private readonly pendingEvents: Array<{ e: { type: EventType; payload: Record<string, unknown>; dedupeKey: string }; done: (err?: unknown) => void }> = [];
  private writingEvents = false;
  /** The first event that could not be written by an `eventLater` (reported when the run finishes). */
  private eventError: unknown;
  /** Units whose planApplyUnit said it applies: unit → the run's attempt at it. */
  readonly applying = new Map<string, number>();

  constructor(readonly input: StackRunInput) {
    this.progress = { workflowId: this.workflowId, kind: input.kind, phase: 'starting', commit: input.commit, units: {}, approvals: [] };
    setHandler(progressQuery, () => this.progress);
    this.trustsRecords = patched('approvals-from-postgres');
    this.batchedEvents = patched('run-events-batched');
    setHandler(unitApplyingSignal, ({ unit, attempt, counts }: { unit: string; attempt?: number; counts?: PlanCounts }) => {
      this.applying.set(unit, attempt ?? 0);
      const v = this.progress.units[unit];
      if (!v || v.status !== 'planning' || !this.loaded) return;
      this.progress.units[unit] = { status: 'applying', counts: counts ?? v.counts };
      this.eventLater('activity_started', { unit, step: 'apply', ...(attempt !== undefined ? { attempt } : {}) });
    });
    setHandler(approveSignal, (a) => {
      if (this.trustsRecords) {
        this.nudges++;
        return;
      }
      this.signalled.approvals.push(a);
      this.progress.approvals.push({ by: a.by, scope: a.scope ?? 'review', ...(a.comment ? { comment: a.comment } : {}) });
    });
    setHandler(rejectSignal, (r) => {
      if (this.trustsRecords) this.nudges++;
      else this.signalled.rejections.push(r);
    });
    setHandler(supersedeSignal, (s) => {
      if (this.applyStarted || this.superseded) return;
      this.superseded = s;
      this.progress.supersededBy = s.by;
      this.beforeApply.cancel();
    });
    // Started by the state's queue: queued from the first moment, naming the run it waits for.
    if (input.queue) {
      setHandler(turnSignal, () => { this.turn = true; });
      setHandler(queuePositionSignal, ({ waitingFor }) => this.waitFor(waitingFor));
      this.progress.phase = 'queued';
      this.waitFor(input.queue.waitingFor);
    }
  }

  /** The approvals that count for their scope: recorded after the run asked for that scope's approval. */
  get approvals(): ApproveSignal[] {
    if (!this.trustsRecords) return this.signalled.approvals;
    return this.recorded
      .filter((a) => a.decision === 'approve' && this.askedAt.has(a.scope) && a.at > this.askedAt.get(a.scope)!)
      .map((a) => ({ by: a.by, groups: a.groups, scope: a.scope, ...(a.comment ? { comment: a.comment } : {}) }));
  }

  /** Every rejection recorded for the run (whether one counts is the policy's business: gates.ts). */
  get rejections(): RejectSignal[] {
    if (!this.trustsRecords) return this.signalled.rejections;
    return this.recorded
      .filter((a) => a.decision === 'reject')
      .map((a) => ({ by: a.by, groups: a.groups, scope: a.scope, ...(a.comment ? { reason: a.comment } : {}) }));
  }

  /** Asks for the approval of `scope` (call before announcing the question): only approvals recorded after now count. */
  async ask(scope: string): Promise<void> {
    if (!this.trustsRecords) return;
    const now = await this.readApprovals();
    this.askedAt.set(scope, now);
  }

  /**
   * Waits until `decided()`. The approvals are read again on every nudge (an approve or reject signal
   * from the api) and every few minutes; runs of the legacy branch wait for a signal.
   */
  async awaitDecision(decided: () => boolean): Promise<void> {
    if (!this.trustsRecords) {
      await condition(decided);
      return;
    }
    while (!decided()) {
      // A nudge that came while the run was busy since its last read (announcing the question, say)
      // is not lost: it is counted against that read, not against the start of this wait.
      await condition(() => this.nudges > this.nudgesRead, APPROVALS_REREAD);
      await this.readApprovals();
    }
  }

  /** Reads the recorded approvals; returns the database's clock at that moment. */
  private async readApprovals(): Promise<number> {
    this.nudgesRead = this.nudges;
    const { now, records } = await control.readApprovals({ operationId: this.operationId });
    this.recorded = records;
    this.progress.approvals = records
      .filter((a) => a.decision === 'approve')
      .map((a) => ({ by: a.by, scope: a.scope, ...(a.comment ? { comment: a.comment } : {}) }));
    return now;
  }

  waitFor(runId: string | undefined): void {
    this.progress.waitingFor = runId;
    if (this.progress.phase === 'queued') this.progress.waitingReason = runId ? `waiting for run ${runId} of this state to finish` : 'waiting for its turn';
  }

  supersededReason(): string {
    return `${this.superseded!.reason} (run ${this.superseded!.by})`;
  }

  setPhase(phase: RunPhase, waitingReason?: string): void {
    this.progress.phase = phase;
    this.progress.waitingReason = waitingReason;
    upsertSearchAttributes({ StacklyStatus: [phase] });
  }

  /** Loads the run's context from the registry, sets its search attributes, records its operation. */
  async load(): Promise<void> {
    const { input } = this;
    const ctx = await control.loadRunContext(input);
    this.progress.stack = ctx.stack;
    this.progress.state = ctx.state;
    upsertSearchAttributes({
      StacklyStack: [ctx.stack], StacklyState: [ctx.state], StacklyEnvironment: [ctx.environment],
      StacklyCommit: [input.commit], StacklyRunKind: [input.kind], StacklyStatus: [input.queue ? 'queued' : 'starting'],
    });
    // A queued run's operation is pending until its turn.
    const operationId = await control.startOperation({
      ctx, workflowId: this.workflowId, kind: input.kind, triggeredBy: input.trigger.by, ...(input.queue ? { status: 'pending' as const } : {}),
    });
    this.loaded = { ctx, operationId };
  }

  get ctx(): RunContext {
    return this.loaded!.ctx;
  }

  get operationId(): string {
    return this.loaded!.operationId;
  }

  get source(): StackSource {
    // The repository id lets execution workers fetch a private repository with its credentials.
    return { repoUrl: this.ctx.repoUrl, commit: this.input.commit, stackPath: this.ctx.stackPath, repositoryId: this.ctx.repositoryId ?? null };
  }

  get run(): RunRef {
    const c = this.ctx;
    return { account: c.account, stack: c.stack, state: c.state, stateId: c.stateId, statePrefix: c.stateKeyPrefix, runId: this.workflowId };
  }

  /**
   * Records an event of this run (idempotent: the key is the run and the event's sequence number);
   * resolves once it is written, after every event asked for before it.
   */
  event(type: EventType, payload: Record<string, unknown> = {}): Promise<void> {
    const e = { type, payload: { workflow_id: this.workflowId, ...payload }, dedupeKey: `${this.workflowId}:${++this.seq}:${type}` };
    if (!this.batchedEvents) return control.emitRunEvent({ ctx: this.ctx, operationId: this.operationId, ...e });
    return new Promise<void>((resolve, reject) => {
      this.pendingEvents.push({ e, done: (err) => (err === undefined ? resolve() : reject(err)) });
      // Written whatever scope asked: an event is a record of what happened, a cancellation included.
      if (!this.writingEvents) void CancellationScope.nonCancellable(() => this.writeEvents());
    });
  }

  /** Records an event without waiting for it: written in order with the others; the run's end waits for all. */
  eventLater(type: EventType, payload: Record<string, unknown> = {}): void {
    this.event(type, payload).catch((err: unknown) => { this.eventError ??= err; });
  }

  private async writeEvents(): Promise<void> {
    this.writingEvents = true;
    try {
      while (this.pendingEvents.length) {
        const batch = this.pendingEvents.splice(0);
        try {
          await control.emitRunEvents({ ctx: this.ctx, operationId: this.operationId, events: batch.map((b) => b.e) });
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err);
        }
      }
    } finally {
      this.writingEvents = false;
    }
  }

  /** Every event asked for is written (or failed). */
  async eventsWritten(): Promise<void> {
    if (this.batchedEvents) await condition(() => !this.writingEvents && this.pendingEvents.length === 0);
    if (this.eventError !== undefined) {
      log.warn(`recording an event of the run failed: ${describe(this.eventError)}`);
      this.eventError = undefined;
    }
  }

  /** Ends the run in `phase`: its operation and a final event, even when the run is being cancelled. */
  async finish(phase: RunPhase, error?: string): Promise<RunProgress> {
    const { progress } = this;
    this.setPhase(phase);
    if (error) progress.error = error;
    const status = phase === 'succeeded' || phase === 'no_changes' ? 'succeeded'
      : phase === 'cancelled' || phase === 'superseded' ? phase : 'failed';
    await CancellationScope.nonCancellable(async () => {
      await this.eventsWritten();
      await control.updateOperation({
        operationId: this.operationId, status,
        ...(error ? { error: { message: error, units: failedUnits(progress) } } : {}),
        metadata: { phase, review: progress.review?.counts ?? null, ...(progress.supersededBy ? { superseded_by: progress.supersededBy } : {}) },
      });
      const type: EventType = status === 'succeeded' ? 'deploy_completed' : phase === 'cancelled' ? 'run_cancelled'
        : phase === 'superseded' ? 'run_superseded' : 'deploy_failed';
      await this.event(type, { phase, ...(error ? { error } : {}), failed_units: failedUnits(progress), ...(progress.supersededBy ? { superseded_by: progress.supersededBy } : {}) });
    });
    return progress;
  }

  /** The last queue routing found, and when (workflow time). */
  private routed: { taskQueue: string; at: number } | undefined;

  /** A task queue with a live matching worker; waits (visibly, durably) until there is one. */
  private async route(): Promise<string> {
    // Runs from 'route-reused' on ask once for many units in a row; runs before asked for each step.
    if (this.routed && Date.now() - this.routed.at < ROUTE_REUSE_MS && patched('route-reused')) return this.routed.taskQueue;
    let announced = false;
    for (;;) {
      // The state lets routing keep to the worker pools bound to its repository (same command, wider input).
      const r = await control.findTaskQueue({ ...this.ctx.config.requires, stateId: this.ctx.stateId });
      if (r.ok) {
        if (announced) this.setPhase(this.progress.phase === 'waiting_for_worker' ? 'planning' : this.progress.phase);
        this.routed = { taskQueue: r.taskQueue, at: Date.now() };
        return r.taskQueue;
      }
      if (!announced) {
        announced = true;
        this.setPhase('waiting_for_worker', r.reason);
        await this.event('worker_wait', { reason: r.reason });
      }
      await sleep(WORKER_POLL);
    }
  }

  /** Runs an execution activity, re-routing when the chosen queue has no worker to start it. */
  async onWorker<T>(what: string, retry: boolean, call: (a: Exec) => Promise<T>, opts: { waitForCancellation?: boolean } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const q = await this.route();
      try {
        return await call(exec(q, retry, opts.waitForCancellation));
      } catch (e) {
        if (e instanceof ActivityFailure && e.cause instanceof TimeoutFailure && e.cause.timeoutType === 'SCHEDULE_TO_START' && attempt < 50) {
          if (this.routed?.taskQueue === q) this.routed = undefined;
          log.warn(`${what}: no worker picked it up on ${q}; routing again`);
          continue;
        }
        throw e;
      }
    }
  }
}
