/**
 * Stack states: list and show (including `commit_unreachable` after a force push), re-associate a
 * loose state with another stack code, destroy a loose state, trigger a run by hand. Runs are asked
 * of the state's queue (one run at a time per state), each under its own id.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { syncDriftSchedules, wantedSchedule } from '../../activities/drift-schedules';
import { requestRun, waitForRunStarted } from '../../activities/run-requests';
import { latestOperationOfType } from '../../db/repos/operations';
import { recordEvent } from '../../db/repos/events';
import { getStackCode, isUuid } from '../../db/repos/stack-codes';
import { findStateByName, getState, getStateForDrift, listStates, lockState, updateState } from '../../db/repos/stack-states';
import type { StackStateStatus } from '../../db/tables/stack-states';
import { WORKFLOWS, newRunId, type StackRunInput } from '../../workflows/definitions';
import type { StackConfig } from '../../workflows/model/stack';
import type { RouteContext } from '../context';
import { ApiError, badRequest, notFound } from '../errors';
import { pageBody, pageRequest, str } from '../pagination';
import { parseBody } from '../validation';
import { driftCheckView, stateView } from '../views';

const STATUSES: StackStateStatus[] = ['active', 'loose', 'destroying', 'destroyed'];
const ReassociateBody = z.strictObject({ stack_code_id: z.string().uuid() });

function meta(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
}

export async function stateRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  /**
   * Queues a run on the state's queue and answers with its id once the request is durable (in the
   * queue's history); waits a moment for the run to exist so a `GET /api/runs/:id` right after finds it.
   */
  async function startRun(namespace: string, workflowType: typeof WORKFLOWS.stackRun | typeof WORKFLOWS.destroy, input: StackRunInput): Promise<{ runId: string; started: boolean }> {
    // The run lives in the namespace of the state's account (the caller's).
    const temporal = ctx.temporal.forNamespace(namespace);
    const runId = newRunId(input.kind, input.stateId, input.commit, randomBytes(6).toString('hex'));
    try {
      await temporal.withDeadline(Date.now() + ctx.temporalTimeoutMs, () =>
        requestRun(temporal, ctx.taskQueue, { runId, workflowType, input }));
    } catch (e) {
      ctx.logger.error({ runId, err: (e as Error).message }, 'queueing run failed');
      throw new ApiError(503, 'temporal_unavailable', 'cannot queue the run right now');
    }
    const started = await waitForRunStarted(temporal, runId, Math.min(ctx.temporalTimeoutMs, 5000)).catch(() => false);
    return { runId, started };
  }

  app.get('/api/states', async (req) => {
    const status = str(req.query, 'status');
    if (status && !STATUSES.includes(status as StackStateStatus)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`);
    const stackCodeId = str(req.query, 'stack_code_id');
    if (stackCodeId && !isUuid(stackCodeId)) throw badRequest('stack_code_id must be a uuid');
    const page = await listStates(db, req.principal.accountId, {
      ...(stackCodeId ? { stackCodeId } : {}), ...(status ? { status: status as StackStateStatus } : {}),
    }, pageRequest(req.query));
    return pageBody(page, stateView);
  });

  app.get('/api/states/:id', async (req) => {
    const { id } = req.params as { id: string };
    const s = await getState(db, req.principal.accountId, id);
    if (!s) throw notFound('state');
    // Its drift schedule as the registry says it should be (activities/drift-schedules.ts), and its last check.
    const [drift, last] = await Promise.all([getStateForDrift(db, s.id), latestOperationOfType(db, s.id, 'drift')]);
    const want = drift ? wantedSchedule(drift) : undefined;
    const autoRemediate = (drift?.config as Partial<StackConfig> | null)?.drift?.autoRemediate ?? false;
    return {
      ...stateView(s),
      drift_schedule: want ? { schedule_id: want.scheduleId, cron: want.cron, auto_remediate: autoRemediate } : null,
      last_drift_check: last ? driftCheckView(last) : null,
    };
  });

  app.post('/api/states/:id/reassociate', async (req) => {
    const { id } = req.params as { id: string };
    const body = parseBody(ReassociateBody, req.body);
    const updated = await db.transaction().execute(async (tx) => {
      const s = await lockState(tx, req.principal.accountId, id);
      if (!s) throw notFound('state');
      if (s.status !== 'loose') throw new ApiError(409, 'state_not_loose', `state is ${s.status}; only loose states can be re-associated`);
      const code = await getStackCode(tx, req.principal.accountId, body.stack_code_id);
      if (!code) throw notFound('stack code');
      if (code.status !== 'active') throw new ApiError(409, 'stack_code_not_active', `stack code is ${code.status}`);
      const clash = await findStateByName(tx, code.id, s.name);
      if (clash) throw new ApiError(409, 'state_name_taken', `stack code already has a state named ${s.name}`);
      const m = meta(s.metadata);
      m.reassociated = { from: m.previous_stack_code_id ?? null, to: code.id, by: req.user };
      delete m.previous_stack_code_id;
      delete m.loose_reason;
      const row = await updateState(tx, s.id, { status: 'active', stackCodeId: code.id, metadata: m, bumpGeneration: true });
      await recordEvent(tx, {
        accountId: req.principal.accountId, stackCodeId: code.id, stackStateId: s.id, type: 'module_updated',
        payload: { action: 'state_reassociated', state: s.name, by: req.user },
      });
      return row;
    });
    // An active state again: its drift schedule follows its new stack code's stack.hcl.
    try {
      const client = ctx.temporal.forNamespace(req.principal.namespace);
      await client.withDeadline(Date.now() + ctx.temporalTimeoutMs, () =>
        syncDriftSchedules({ client, db, logger: ctx.logger, taskQueue: ctx.taskQueue }, [updated.id]));
    } catch (e) {
      ctx.logger.warn({ stateId: updated.id, err: (e as Error).message }, 'drift schedule not synced after re-association (the next push of its stack syncs it)');
    }
    return stateView(updated);
  });

  app.post('/api/states/:id/destroy', async (req, reply) => {
    const { id } = req.params as { id: string };
    const s = await getState(db, req.principal.accountId, id);
    if (!s) throw notFound('state');
    if (s.status !== 'loose' && s.status !== 'destroying') {
      throw new ApiError(409, 'state_not_loose', `state is ${s.status}; only loose states are cleaned up by hand`);
    }
    const previous = meta(s.metadata).previous_stack_code_id;
    const stackCodeId = s.stack_code_id ?? (typeof previous === 'string' ? previous : null);
    if (!stackCodeId) throw new ApiError(409, 'no_stack_code', 'state has no stack code to destroy with');
    // Recorded first: a destroy that was asked for is never lost, and the state shows it at once. The
    // run (its own id) goes through the state's queue, so it waits for a run of the state in flight.
    await db.transaction().execute(async (tx) => {
      await updateState(tx, s.id, { status: 'destroying' });
      await recordEvent(tx, {
        accountId: req.principal.accountId, stackCodeId, stackStateId: s.id, type: 'destroy_initiated',
        payload: { reason: 'cleanup of a loose state', by: req.user },
      });
    });
    const { runId } = await startRun(req.principal.namespace, WORKFLOWS.destroy, {
      stateId: s.id, stackCodeId, commit: s.commit_hash, kind: 'destroy', trigger: { type: 'cleanup', by: req.user, author: req.user }, generation: Number(s.generation),
    });
    return reply.status(202).send({ workflow_id: runId, run_id: runId });
  });

  app.post('/api/states/:id/runs', async (req, reply) => {
    const { id } = req.params as { id: string };
    const s = await getState(db, req.principal.accountId, id);
    if (!s) throw notFound('state');
    if (s.status !== 'active' || !s.stack_code_id) throw new ApiError(409, 'state_not_active', `state is ${s.status}`);
    const code = await getStackCode(db, req.principal.accountId, s.stack_code_id);
    if (!code || code.status !== 'active') throw new ApiError(409, 'stack_code_not_active', `stack code is ${code?.status ?? 'missing'}`);
    const { runId } = await startRun(req.principal.namespace, WORKFLOWS.stackRun, {
      stateId: s.id, stackCodeId: code.id, commit: code.current_commit, kind: 'deploy', trigger: { type: 'manual', by: req.user, author: req.user },
      generation: Number(s.generation),
    });
    return reply.status(202).send({ workflow_id: runId, run_id: runId, commit: code.current_commit });
  });
}
