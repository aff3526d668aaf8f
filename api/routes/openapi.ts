/** GET /openapi.json (public). */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context';
import { openapi } from '../openapi';

export async function openapiRoutes(app: FastifyInstance, _ctx: RouteContext): Promise<void> {
  app.get('/openapi.json', async () => openapi);
}
