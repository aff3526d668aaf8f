/**
 * Drift checks of a state: GET /api/states/:id/drift lists its checks (newest first, with the
 * resources each found and its remediation), POST /api/states/:id/drift asks the state's queue for a
 * check now (the same request its schedule makes: activities/drift.ts requestDriftCheck).
 */
import { requestDriftCheck } from '../../activities/drift';
import { waitForRunStarted } from '../../activities/run-requests';
import { listOperations } from '../../db/repos/operations';
import { getState } from '../../db/repos/stack-states';
import type { RouteModule } from '../server';
import { ApiError, notFound } from '../errors';
import { pageBody, pageRequest } from '../pagination';
import { driftCheckView } from '../views';

export const driftRoutes: RouteModule = async (app, ctx) => {
  app.get<{ Params: { id: string } }>('/api/states/:id/drift', async (req) => {
    const s = await getState(ctx.db, req.principal.accountId, req.params.id);
    if (!s) throw notFound('state');
    const page = await listOperations(ctx.db, req.principal.accountId, { stackStateId: s.id, type: 'drift' }, pageRequest(req.query));
    return pageBody(page, driftCheckView);
  });

  app.post<{ Params: { id: string } }>('/api/states/:id/drift', async (req, reply) => {
    const s = await getState(ctx.db, req.principal.accountId, req.params.id);
    if (!s) throw notFound('state');
    const client = ctx.temporal.forNamespace(req.principal.namespace);
    let r;
    try {
      r = await client.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => requestDriftCheck(
        { client, db: ctx.db, logger: ctx.logger },
        { stateId: s.id, taskQueue: ctx.taskQueue, trigger: { type: 'manual', by: req.user } },
      ));
    } catch (e) {
      ctx.logger.error({ stateId: s.id, err: (e as Error).message }, 'queueing a drift check failed');
      throw new ApiError(503, 'temporal_unavailable', 'cannot queue the drift check right now');
    }
    if ('skipped' in r) throw new ApiError(409, 'drift_check_not_started', r.skipped);
    await waitForRunStarted(client, r.runId, Math.min(ctx.temporalTimeoutMs, 5000)).catch(() => false);
    return reply.status(202).send({ run_id: r.runId, workflow_id: r.runId, commit: s.commit_hash });
  });
};
