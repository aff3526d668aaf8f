/** Stack codes: list (filter by repository or status) and show (with its states). */
import type { FastifyInstance } from 'fastify';
import { getStackCode, isUuid, listStackCodes } from '../../db/repos/stack-codes';
import { listStatesOfStackCode } from '../../db/repos/stack-states';
import type { StackCodeStatus } from '../../db/tables/stack-codes';
import type { RouteContext } from '../context';
import { badRequest, notFound } from '../errors';
import { pageBody, pageRequest, str } from '../pagination';
import { stackCodeView, stateView } from '../views';

const STATUSES: StackCodeStatus[] = ['active', 'invalid', 'deregistered'];

export async function stackCodeRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  app.get('/api/stack-codes', async (req) => {
    const status = str(req.query, 'status');
    if (status && !STATUSES.includes(status as StackCodeStatus)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`);
    const repositoryId = str(req.query, 'repository_id');
    if (repositoryId && !isUuid(repositoryId)) throw badRequest('repository_id must be a uuid');
    const page = await listStackCodes(db, req.principal.accountId, {
      ...(repositoryId ? { repositoryId } : {}), ...(status ? { status: status as StackCodeStatus } : {}),
    }, pageRequest(req.query));
    return pageBody(page, stackCodeView);
  });

  app.get('/api/stack-codes/:id', async (req) => {
    const { id } = req.params as { id: string };
    const code = await getStackCode(db, req.principal.accountId, id);
    if (!code) throw notFound('stack code');
    return { ...stackCodeView(code), states: (await listStatesOfStackCode(db, code.id)).map(stateView) };
  });
}
