/** Operations (plans, applies, destroys, drift checks): list and show. */
import type { FastifyInstance } from 'fastify';
import { getOperation, listOperations } from '../../db/repos/operations';
import { isUuid } from '../../db/repos/stack-codes';
import type { RouteContext } from '../context';
import { badRequest, notFound } from '../errors';
import { pageBody, pageRequest, str } from '../pagination';
import { operationView } from '../views';

export async function operationRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;
  app.get('/api/operations', async (req) => {
    const stateId = str(req.query, 'state_id');
    if (stateId && !isUuid(stateId)) throw badRequest('state_id must be a uuid');
    return pageBody(await listOperations(db, req.principal.accountId, stateId ? { stackStateId: stateId } : {}, pageRequest(req.query)), operationView);
  });
  app.get('/api/operations/:id', async (req) => {
    const { id } = req.params as { id: string };
    const op = await getOperation(db, req.principal.accountId, id);
    if (!op) throw notFound('operation');
    return operationView(op);
  });
}
