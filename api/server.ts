/**
 * The api's Fastify app factory. Everything comes in through `deps` (no process.env here); the
 * process entry is main.ts. Routes are a short list: public ones (webhook: signature auth; openapi;
 * health) and REST ones behind bearer-token auth.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { CONTROL_TASK_QUEUE } from '../workflows/definitions';
import { authorize } from './auth/authorize';
import { createAuthenticator, type Principal } from './auth/principal';
import type { ApiDeps, RouteContext } from './context';
import { installErrorHandler } from './errors';
import { installRateLimits } from './rate-limit';
import { createSignatureVerifier } from './signature';
import { webhookRoutes } from './routes/webhooks';
import { openapiRoutes } from './routes/openapi';
import { repositoryRoutes } from './routes/repositories';
import { stackCodeRoutes } from './routes/stack-codes';
import { stateRoutes } from './routes/states';
import { secretRoutes } from './routes/secrets';
import { executionBindingRoutes } from './routes/execution-bindings';
import { operationRoutes } from './routes/operations';
import { eventRoutes } from './routes/events';
import { runRoutes } from './routes/runs';
import { stateLockRoutes } from './routes/state-locks';
import { peopleRoutes } from './routes/people';
import { signInRoutes } from './routes/sign-in';
import { memberRoutes } from './routes/members';
import { policyRoutes } from './routes/policies';
import { accountRoutes } from './routes/accounts';
import { driftRoutes } from './routes/drift';

export type { ApiDeps } from './context';
export type RouteModule = (app: FastifyInstance, ctx: RouteContext) => Promise<void>;

/** Routes with their own authentication (or none). */
const PUBLIC_ROUTES: RouteModule[] = [webhookRoutes, openapiRoutes, signInRoutes];
/** Public routes no rate limit applies to (the authenticated route among them limits itself through authorize()). */
const NOT_RATE_LIMITED = new Set<RouteModule>([webhookRoutes]);
/** Routes behind `Authorization: Bearer <token>`. */
const REST_ROUTES: RouteModule[] = [peopleRoutes, memberRoutes, policyRoutes, accountRoutes, repositoryRoutes, stackCodeRoutes, stateRoutes, secretRoutes, executionBindingRoutes, stateLockRoutes, driftRoutes, operationRoutes, eventRoutes, runRoutes];

/** The REST routes an app registered (`METHOD /pattern`), for the test that every one has a role. */
const restRoutes = new WeakMap<FastifyInstance, string[]>();
export const registeredRestRoutes = (app: FastifyInstance): readonly string[] => restRoutes.get(app) ?? [];

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    return503OnClosing: true,
    ...(deps.trustProxy !== undefined ? { trustProxy: deps.trustProxy } : {}),
  });
  installErrorHandler(app);
  const rateLimiter = deps.rateLimits ? await installRateLimits(app, { db: deps.db, logger: deps.logger, settings: deps.rateLimits }) : undefined;
  const ctx: RouteContext = {
    ...deps,
    authenticate: createAuthenticator({ db: deps.db, ...(deps.accessTokens ? { accessTokens: deps.accessTokens } : {}) }),
    verifySignature: await createSignatureVerifier(),
    taskQueue: deps.taskQueue ?? CONTROL_TASK_QUEUE,
    temporalTimeoutMs: deps.temporalTimeoutMs ?? 5000,
    ...(rateLimiter ? { rateLimiter } : {}),
  };
  app.decorateRequest('user', '');
  app.decorateRequest('principal', undefined as unknown as Principal);
  app.get('/healthz', async () => ({ ok: true }));
  for (const r of PUBLIC_ROUTES) {
    await app.register(async (scope) => {
      // Without a credential to count, public routes count per client address; the webhook receiver
      // not at all (api/README.md, "Rate limits"): its deliveries are verified by signature first.
      if (rateLimiter && !NOT_RATE_LIMITED.has(r)) scope.addHook('onRequest', async (req) => rateLimiter.address(req));
      await r(scope, ctx);
    });
  }
  const rest: string[] = [];
  restRoutes.set(app, rest);
  await app.register(async (scope) => {
    scope.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) if (m !== 'HEAD') rest.push(`${m} ${r.url}`);
    });
    // Who is calling, then whether their role in the account may call this route (api/auth/roles.ts).
    scope.addHook('onRequest', async (req) => {
      await authorize(ctx, req);
    });
    for (const r of REST_ROUTES) await scope.register(async (inner) => r(inner, ctx));
  });
  return app;
}
