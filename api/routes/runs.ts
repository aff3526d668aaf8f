/**
 * Runs: progress, approve, reject, cancel. Progress comes from the workflow's query (the source of
 * truth for scheduling); approvals are stored in Postgres, then delivered to the run as a signal.
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

const ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const scope = z.string().regex(/^(review|unit:[A-Za-z0-9_.-]+)$/, 'must be "review" or "unit:<name>"').default('review');
// No `groups` here: an approver's groups come from authentication (API_USER_GROUPS), never from the body.
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

  app.post<{ Params: { id: string } }>('/api/runs/:id/approve', async (req, reply) => {
    const body = parseBody(approveBody, req.body);
    const op = await ownRun(req, req.params.id);
    // Who approves and their groups come from their credential (api/auth/principal.ts), never the body.
    const { name: by, groups } = req.principal;
    // The record and the signal go together: a run that has ended (409) or a Temporal that does not
    // answer (503) leaves no approval behind.
    await ctx.db.transaction().execute(async (tx) => {
      await recordApproval(tx, {
        operationId: op.id, workflowId: req.params.id, scope: body.scope, approver: by, principalId: req.principal.id,
        accountId: req.principal.accountId, groups, decision: 'approve', comment: body.comment ?? null,
      });
      await temporal('approving', () => temporalOf(req).workflow.getHandle(req.params.id).signal(approveSignal, {
        by, scope: body.scope, groups, ...(body.comment ? { comment: body.comment } : {}),
      }));
    });
    return reply.status(202).send({ approved: true, by, scope: body.scope });
  });

  app.post<{ Params: { id: string } }>('/api/runs/:id/reject', async (req, reply) => {
    const body = parseBody(rejectBody, req.body);
    const op = await ownRun(req, req.params.id);
    const { name: by, groups } = req.principal;
    await ctx.db.transaction().execute(async (tx) => {
      await recordApproval(tx, {
        operationId: op.id, workflowId: req.params.id, scope: body.scope, approver: by, principalId: req.principal.id,
        accountId: req.principal.accountId, groups, decision: 'reject', comment: body.reason ?? null,
      });
      await temporal('rejecting', () => temporalOf(req).workflow.getHandle(req.params.id).signal(rejectSignal, {
        by, scope: body.scope, groups, ...(body.reason ? { reason: body.reason } : {}),
      }));
    });
    return reply.status(202).send({ rejected: true, by });
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
};
