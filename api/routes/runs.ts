/**
 * Runs: progress, approve, reject, cancel. Progress comes from the workflow's query (the source of
 * truth for scheduling); approvals are stored in Postgres, which the run reads back; the signal that
 * follows is only a nudge.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { approveSignal, parseStackRunWorkflowId, progressQuery, rejectSignal } from '../../workflows/definitions';
import { recordApproval } from '../../db/repos/approvals';
import { findRunOperation } from '../../db/repos/operations';
import { getState } from '../../db/repos/stack-states';
import type { RouteModule } from '../server';
import { ApiError, notFound } from '../errors';
import { parseBody } from '../validation';
import { registerRunLogRoutes } from './run-logs';

const ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const scope = z.string().regex(/^(review|unit:[A-Za-z0-9_.-]+)$/, 'must be "review" or "unit:<name>"').default('review');
// No `groups` here: an approver's groups come from their credential (api/auth/principal.ts), never from the body.
const approveBody = z.strictObject({ scope, comment: z.string().max(2000).optional() });
const rejectBody = z.strictObject({ scope, reason: z.string().max(2000).optional() });

export const runRoutes: RouteModule = async (app, ctx) => {
  /** The caller's account's namespace: a run of another account is not even looked up there. */
  const temporalOf = (req: FastifyRequest) => ctx.temporal.forNamespace(req.principal.namespace);
  /**
   * The run must belong to a state of this api's account: by its operation, or, in its first moments
   * (before its workflow has recorded the operation), by the state its id names. The operation is
   * then null.
   */
  const ownRun = async (req: FastifyRequest, workflowId: string): Promise<{ id: string | null; status: string | null }> => {
    if (!ID.test(workflowId)) throw notFound(`run ${workflowId}`);
    // Of several runs under one id (a manual re-run of a commit), the newest: the one Temporal answers for.
    const op = await findRunOperation(ctx.db, req.principal.accountId, workflowId);
    if (op) return op;
    const named = parseStackRunWorkflowId(workflowId);
    const state = named && await getState(ctx.db, req.principal.accountId, named.stateId);
    if (!state) throw notFound(`run ${workflowId}`);
    try {
      await temporalOf(req).workflow.getHandle(workflowId).describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw notFound(`run ${workflowId}`);
      throw new ApiError(503, 'temporal_unavailable', `finding the run: Temporal did not answer (${(e as Error).message})`);
    }
    return { id: null, status: null };
  };
  const temporal = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new ApiError(409, 'run_not_running', `${what}: the run is not running`);
      throw new ApiError(503, 'temporal_unavailable', `${what}: Temporal did not answer (${(e as Error).message})`);
    }
  };

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req) => {
    const op = await ownRun(req, req.params.id);
    const handle = temporalOf(req).workflow.getHandle(req.params.id);
    const progress = await temporal('reading progress', () => handle.query(progressQuery));
    return { operation_id: op.id, operation_status: op.status, progress };
  });

  /**
   * Records an approval or rejection, then nudges the run to read it back. The record is what counts
   * (the run reads it from Postgres); the signal carries nothing the run believes. Recorded first and
   * committed, so a nudge that Temporal does not take (503) loses nothing: the run reads its approvals
   * again every few minutes.
   */
  const decide = async (req: FastifyRequest<{ Params: { id: string } }>, decision: 'approve' | 'reject', scope: string, comment: string | undefined) => {
    const op = await ownRun(req, req.params.id);
    if (!op.id) throw new ApiError(409, 'run_not_waiting', `run ${req.params.id} has not asked for approval yet`);
    if (op.status && ['succeeded', 'failed', 'cancelled', 'superseded'].includes(op.status)) throw new ApiError(409, 'run_not_running', `run ${req.params.id} has ended (${op.status})`);
    if (decision === 'approve') {
      // An approval counts only for a question the run has asked (it ignores earlier ones): say so now
      // instead of recording one that would never count.
      const progress = await temporal('reading progress', () => temporalOf(req).workflow.getHandle(req.params.id).query(progressQuery));
      const unit = scope.startsWith('unit:') ? scope.slice('unit:'.length) : undefined;
      const asking = unit === undefined ? progress.phase === 'awaiting_approval' : progress.units[unit]?.status === 'awaiting_approval';
      if (!asking) {
        const now = unit === undefined ? `it is ${progress.phase}` : progress.units[unit] ? `unit ${unit} is ${progress.units[unit]!.status}` : `it has no unit ${unit}`;
        throw new ApiError(409, 'run_not_waiting', `run ${req.params.id} is not waiting for approval of ${scope} (${now}); approve once it asks`);
      }
    }
    // Who decides and their groups come from their credential (api/auth/principal.ts), never the body.
    const { name: by, groups } = req.principal;
    await recordApproval(ctx.db, {
      operationId: op.id, workflowId: req.params.id, scope, approver: by, principalId: req.principal.id,
      accountId: req.principal.accountId, groups, decision, comment: comment ?? null,
    });
    const signal = decision === 'approve' ? approveSignal : rejectSignal;
    try {
      const client = temporalOf(req);
      await client.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => client.workflow.getHandle(req.params.id).signal(signal, { by, scope }));
      return { by, nudged: true };
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new ApiError(409, 'run_not_running', `run ${req.params.id} is not running`);
      // Recorded all the same: the run reads its approvals again within minutes.
      req.log.warn({ err: (e as Error).message, run: req.params.id }, 'approval recorded; nudging the run failed');
      return { by, nudged: false };
    }
  };

  app.post<{ Params: { id: string } }>('/api/runs/:id/approve', async (req, reply) => {
    const body = parseBody(approveBody, req.body);
    const { by, nudged } = await decide(req, 'approve', body.scope, body.comment);
    return reply.status(202).send({ approved: true, by, scope: body.scope, nudged });
  });

  app.post<{ Params: { id: string } }>('/api/runs/:id/reject', async (req, reply) => {
    const body = parseBody(rejectBody, req.body);
    const { by, nudged } = await decide(req, 'reject', body.scope, body.reason);
    return reply.status(202).send({ rejected: true, by, nudged });
  });

  app.post<{ Params: { id: string } }>('/api/runs/:id/cancel', async (req, reply) => {
    await ownRun(req, req.params.id);
    const handle = temporalOf(req).workflow.getHandle(req.params.id);
    // Temporal accepts a cancellation of a closed workflow without complaint: say that the run has ended.
    const { status } = await temporal('cancelling', () => handle.describe());
    if (status.name !== 'RUNNING') throw new ApiError(409, 'run_not_running', `cancelling: the run has ended (${status.name.toLowerCase()})`);
    await temporal('cancelling', () => handle.cancel());
    return reply.status(202).send({ cancelling: true, by: req.user });
  });

  // GET /api/runs/:id/logs (and its event stream), for runs ownRun finds in the caller's account.
  registerRunLogRoutes(app, ctx, ownRun, ctx.runLogs);
};
