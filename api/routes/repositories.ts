/**
 * Repositories: register (URL, tracked branch, webhook secret, clone credentials, GitHub connection),
 * list, show; connect to GitHub or disconnect (`PUT`/`DELETE /api/repositories/:id/github`). Secrets
 * are write-only: stored as Vault Transit ciphertext, never returned.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getRepository, insertRepository, listRepositories, setRepositoryWebhookSecret, updateGithubConnection } from '../../db/repos/repositories';
import { DEFAULT_GITHUB_API_URL, GITHUB_REPOSITORY, GithubAuthSchema, githubRepositoryOfUrl } from '../../common/github';
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

/**
 * A repository's GitHub connection: a GitHub App installation (`app_id`, `private_key`,
 * `installation_id`) or a token (`auth`, write-only), the repository on GitHub (`owner/name`; derived
 * from a github.com URL), the REST API (default https://api.github.com; GitHub Enterprise Server:
 * `https://ghe.example.com/api/v3`), and whether pull requests from forks are planned (default no).
 */
export const GithubConnectionBody = z.strictObject({
  auth: GithubAuthSchema,
  repository: z.string().regex(GITHUB_REPOSITORY, 'must be owner/name').optional(),
  api_url: z.string().url().max(2000).refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .refine((u) => !/^https?:\/\/[^/@\s]*@/.test(u), 'must not carry credentials').optional(),
  allow_fork_prs: z.boolean().optional(),
});
type GithubConnectionInput = z.infer<typeof GithubConnectionBody>;

export const CreateRepositoryBody = z.strictObject({
  url: RepoUrl,
  tracked_branch: z.string().regex(/^(?!-)[A-Za-z0-9._/-]{1,200}$/, 'not a valid branch name').default('main'),
  /** Optional: without it the global GITHUB_WEBHOOK_SECRET verifies this repository's deliveries. */
  webhook_secret: z.string().min(16, 'must be at least 16 characters').max(500).optional(),
  credentials: z.union([
    z.strictObject({ token: z.string().min(1), username: z.string().min(1).optional() }),
    z.strictObject({ username: z.string().min(1), password: z.string().min(1) }),
  ]).optional(),
  github: GithubConnectionBody.optional(),
});

export async function repositoryRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  async function seal(plaintext: string): Promise<string> {
    try {
      return await ctx.secretBox.encrypt(plaintext);
    } catch (e) {
      if (e instanceof SecretBoxUnavailableError) throw new ApiError(503, 'secret_storage_unavailable', e.message);
      ctx.logger.error({ err: (e as Error).message }, 'encrypting repository secrets failed');
      throw new ApiError(503, 'secret_storage_unavailable', 'cannot store secrets right now');
    }
  }

  /** The columns of a GitHub connection, its auth sealed; 400 when the repository on GitHub cannot be known. */
  async function githubColumns(url: string, g: GithubConnectionInput) {
    const githubRepository = g.repository ?? githubRepositoryOfUrl(url);
    if (!githubRepository) throw new ApiError(400, 'invalid_request', 'github.repository: required (owner/name) when the URL is not a github.com URL');
    return {
      authEnc: await seal(JSON.stringify(g.auth)), githubRepository,
      apiUrl: (g.api_url ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ''), allowForkPrs: g.allow_fork_prs ?? false,
    };
  }

  app.post('/api/repositories', async (req, reply) => {
    const body = parseBody(CreateRepositoryBody, req.body);
    if (!body.webhook_secret && ctx.allowGlobalWebhookSecret !== true) {
      throw new ApiError(400, 'invalid_request', 'webhook_secret: required: every repository has its own webhook secret (the global one only in development, WEBHOOK_GLOBAL_SECRET_ALLOWED=1)');
    }
    const github = body.github ? await githubColumns(body.url, body.github) : undefined;
    const webhookSecretEnc = body.webhook_secret ? await seal(body.webhook_secret) : null;
    const credentialsEnc = body.credentials ? await seal(JSON.stringify(body.credentials)) : null;
    try {
      let row = await insertRepository(db, {
        accountId: req.principal.accountId, url: body.url, trackedBranch: body.tracked_branch, webhookSecretEnc, credentialsEnc,
      });
      if (github) row = (await updateGithubConnection(db, req.principal.accountId, row.id, github)) ?? row;
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
    const row = await setRepositoryWebhookSecret(db, req.principal.accountId, id, await seal(body.webhook_secret));
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

  app.put('/api/repositories/:id/github', async (req) => {
    const { id } = req.params as { id: string };
    const row = isUuid(id) ? await getRepository(db, req.principal.accountId, id) : undefined;
    if (!row) throw notFound('repository');
    const body = parseBody(GithubConnectionBody, req.body);
    const updated = await updateGithubConnection(db, req.principal.accountId, id, await githubColumns(row.url, body));
    if (!updated) throw notFound('repository');
    ctx.logger.info({ repositoryId: id, githubRepository: updated.github_repository, user: req.user }, 'repository connected to GitHub');
    return repositoryView(updated);
  });

  app.delete('/api/repositories/:id/github', async (req) => {
    const { id } = req.params as { id: string };
    const updated = isUuid(id) ? await updateGithubConnection(db, req.principal.accountId, id, { authEnc: null, githubRepository: null, apiUrl: null, allowForkPrs: false }) : undefined;
    if (!updated) throw notFound('repository');
    ctx.logger.info({ repositoryId: id, user: req.user }, 'repository disconnected from GitHub');
    return repositoryView(updated);
  });
}
