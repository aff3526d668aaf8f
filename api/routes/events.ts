/** Events: list (filter by stack code, state, type) and show. */
import type { FastifyInstance } from 'fastify';
import { getEvent, listEvents } from '../../db/repos/events';
import { isUuid } from '../../db/repos/stack-codes';
import { EVENT_TYPES, type EventType } from '../../db/tables/events';
import type { RouteContext } from '../context';
import { badRequest, notFound } from '../errors';
import { pageBody, pageRequest, str } from '../pagination';
import { eventView } from '../views';

export async function eventRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;
  app.get('/api/events', async (req) => {
    const stackCodeId = str(req.query, 'stack_code_id');
    const stateId = str(req.query, 'state_id');
    const type = str(req.query, 'type');
    if ((stackCodeId && !isUuid(stackCodeId)) || (stateId && !isUuid(stateId))) throw badRequest('ids must be uuids');
    if (type && !(EVENT_TYPES as readonly string[]).includes(type)) throw badRequest(`unknown event type ${type}`);
    const page = await listEvents(db, req.principal.accountId, {
      ...(stackCodeId ? { stackCodeId } : {}), ...(stateId ? { stackStateId: stateId } : {}), ...(type ? { type: type as EventType } : {}),
    }, pageRequest(req.query));
    return pageBody(page, eventView);
  });
  app.get('/api/events/:id', async (req) => {
    const { id } = req.params as { id: string };
    const e = await getEvent(db, req.principal.accountId, id);
    if (!e) throw notFound('event');
    return eventView(e);
  });
}
