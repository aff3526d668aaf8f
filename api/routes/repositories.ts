/** Repositories: register (URL, tracked branch, webhook secret, clone credentials), list, show. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getRepository, insertRepository, listRepositories, setRepositoryWebhookSecret } from '../../db/repos/repositories';
import { isUuid } from '../../db/repos/stack-codes';
import type { RouteContext } from '../context';
import { ApiError, notFound } from '../errors';
import { pageBody, pageRequest } from '../pagination';
import { SecretBoxUnavailableError } from '../../common/secret-box';
import { repositoryView } from '../views';
import { parseBody } from '../validation';

const RepoUrl = z.string().min(1).max(2000).refine(
  (u) => /^(https?|file|git|ssh):\/\/[^\s]+$/.test(u),
  'must be an https://, http://, ssh://, git:// or file:// URL',
).refine(
  // The URL is a key stored in the clear and passed through Temporal: a token in it would leak.
  (u) => !/^https?:\/\/[^/@\s]*:[^/@\s]*@/.test(u),
  'must not carry credentials; pass them in "credentials" (stored encrypted)',
);

export const CreateRepositoryBody = z.strictObject({
  url: RepoUrl,
  tracked_branch: z.string().regex(/^(?!-)[A-Za-z0-9._/-]{1,200}$/, 'not a valid branch name').default('main'),
  /** Required (issue 15); optional only with WEBHOOK_GLOBAL_SECRET_ALLOWED (development), where the global secret verifies. */
  webhook_secret: z.string().min(16, 'must be at least 16 characters').max(500).optional(),
  credentials: z.union([
    z.strictObject({ token: z.string().min(1), username: z.string().min(1).optional() }),
    z.strictObject({ username: z.string().min(1), password: z.string().min(1) }),
  ]).optional(),
});

export async function repositoryRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  app.post('/api/repositories', async (req, reply) => {
    const body = parseBody(CreateRepositoryBody, req.body);
    if (!body.webhook_secret && ctx.allowGlobalWebhookSecret !== true) {
      throw new ApiError(400, 'invalid_request', 'webhook_secret: required: every repository has its own webhook secret (the global one only in development, WEBHOOK_GLOBAL_SECRET_ALLOWED=1)');
    }
    let webhookSecretEnc: string | null = null;
    let credentialsEnc: string | null = null;
    try {
      if (body.webhook_secret) webhookSecretEnc = await ctx.secretBox.encrypt(body.webhook_secret);
      if (body.credentials) credentialsEnc = await ctx.secretBox.encrypt(JSON.stringify(body.credentials));
    } catch (e) {
      if (e instanceof SecretBoxUnavailableError) throw new ApiError(503, 'secret_storage_unavailable', e.message);
      ctx.logger.error({ err: (e as Error).message }, 'encrypting repository secrets failed');
      throw new ApiError(503, 'secret_storage_unavailable', 'cannot store secrets right now');
    }
    try {
      const row = await insertRepository(db, {
        accountId: req.principal.accountId, url: body.url, trackedBranch: body.tracked_branch, webhookSecretEnc, credentialsEnc,
      });
      ctx.logger.info({ repositoryId: row.id, url: row.url, user: req.user }, 'repository registered');
      return reply.status(201).send(repositoryView(row));
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw new ApiError(409, 'conflict', 'repository already registered');
      throw e;
    }
  });

  app.get('/api/repositories', async (req) => pageBody(await listRepositories(db, req.principal.accountId, pageRequest(req.query)), repositoryView));

  /** Gives a repository its own webhook secret (one registered without, before every repository needed one), or rotates it. */
  app.put('/api/repositories/:id/webhook-secret', async (req) => {
    const { id } = req.params as { id: string };
    const body = parseBody(z.strictObject({ webhook_secret: z.string().min(16, 'must be at least 16 characters').max(500) }), req.body);
    if (!isUuid(id) || !(await getRepository(db, req.principal.accountId, id))) throw notFound('repository');
    let enc: string;
    try {
      enc = await ctx.secretBox.encrypt(body.webhook_secret);
    } catch (e) {
      if (e instanceof SecretBoxUnavailableError) throw new ApiError(503, 'secret_storage_unavailable', e.message);
      ctx.logger.error({ err: (e as Error).message }, 'encrypting a webhook secret failed');
      throw new ApiError(503, 'secret_storage_unavailable', 'cannot store secrets right now');
    }
    const row = await setRepositoryWebhookSecret(db, req.principal.accountId, id, enc);
    if (!row) throw notFound('repository');
    ctx.logger.info({ repositoryId: id, user: req.user }, 'repository webhook secret set');
    return repositoryView(row);
  });

  app.get('/api/repositories/:id', async (req) => {
    const { id } = req.params as { id: string };
    const row = isUuid(id) ? await getRepository(db, req.principal.accountId, id) : undefined;
    if (!row) throw notFound('repository');
    return repositoryView(row);
  });
}
