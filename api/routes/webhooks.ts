/**
 * `POST /webhooks/github`: thin, fails closed, durable before it answers.
 *
 * 1. Verify `X-Hub-Signature-256` over the raw body (always) with the secret of the repository the
 *    payload names: every repository has its own (issue 15). The global GITHUB_WEBHOOK_SECRET verifies
 *    deliveries only when WEBHOOK_GLOBAL_SECRET_ALLOWED=1 (development: scripts/dev, tests that need
 *    it); otherwise a delivery signed with it is refused (401 `global_secret_refused`, logged; not
 *    stored, so a redelivery under the same id is handled once the repository has its own secret). The same URL may be registered in several accounts: the delivery belongs to the one
 *    whose secret signed it (its own secret first, else the global one where allowed). Two accounts
 *    that both rely on the global secret for one URL are ambiguous: the delivery is ignored with that
 *    reason (never guessed). The repository's account gives the Temporal namespace.
 * 2. Parse; store the delivery (its id is the primary key, so a delivery is stored once) with the
 *    SHA-256 of its body for pushes: the same body again under a new delivery id is a replay, refused
 *    with 409 `replayed_delivery` (recorded `refused`; GitHub does not retry a 4xx by itself).
 * 3. For a push to the tracked branch: start pushWorkflow with id `push-<delivery id>` (a duplicate
 *    start is success), mark the delivery `started`, answer 202. If Temporal cannot be reached the
 *    answer is 503 and the delivery stays `received`, so GitHub's redelivery starts it. The workflow
 *    refuses a commit that is not reachable from the tracked branch after fetching (delivery
 *    `refused` with the reason, event `push_refused`) before it registers or runs anything.
 * No work continues after the reply: the workflow does it.
 */
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { isCodecError } from '../../common/codec';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { getRepositoryById, findRepositoriesByUrlsInAnyAccount } from '../../db/repos/repositories';
import { findDeliveryByDigest, getDelivery, insertDelivery, markDeliveryStarted } from '../../db/repos/webhook-deliveries';
import type { Repository } from '../../db/tables/repositories';
import { WORKFLOWS, pushWorkflowId, type PushWorkflowInput } from '../../workflows/definitions';
import type { RouteContext } from '../context';
import { authorize } from '../auth/authorize';
import { ApiError } from '../errors';
import { handlePullRequest } from '../webhooks/pull-request';

const COMMIT = z.string().regex(/^[0-9a-f]{40}$/);

/** The part of GitHub's push payload Stackly uses. */
const PushPayload = z.object({
  ref: z.string().min(1),
  before: COMMIT,
  after: COMMIT,
  created: z.boolean().optional().default(false),
  deleted: z.boolean().optional().default(false),
  forced: z.boolean().optional().default(false),
  head_commit: z.object({
    id: z.string(),
    author: z.object({ name: z.string().optional(), email: z.string().optional(), username: z.string().optional() }).partial().optional(),
  }).nullable().optional(),
  pusher: z.object({ name: z.string().optional() }).partial().optional(),
});

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function repositoryUrls(payload: unknown): string[] {
  if (!isObj(payload) || !isObj(payload.repository)) return [];
  const r = payload.repository;
  return ['clone_url', 'html_url', 'ssh_url', 'git_url', 'svn_url', 'url']
    .map((k) => r[k])
    .filter((v): v is string => typeof v === 'string' && v !== '');
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export async function webhookRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db, logger } = ctx;
  // The signature is over the raw bytes: take every content type as a Buffer, parse JSON ourselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.bodyLimitBytes }, (_req, body, done) => done(null, body));

  async function secretFor(repo: Repository | undefined): Promise<string> {
    if (repo?.webhook_secret_enc) {
      try {
        return await ctx.secretBox.decrypt(repo.webhook_secret_enc);
      } catch (e) {
        logger.error({ repositoryId: repo.id, err: (e as Error).message }, 'decrypting webhook secret failed');
        throw new ApiError(503, 'secret_unavailable', 'cannot check the signature right now; retry later');
      }
    }
    return ctx.webhookSecret;
  }

  async function ignore(reply: FastifyReply, deliveryId: string, event: string, repo: Repository | undefined, reason: string, status = 202) {
    const { inserted } = await insertDelivery(db, { deliveryId, event, repositoryId: repo?.id ?? null, status: 'ignored', reason });
    logger.info({ deliveryId, event, reason }, 'webhook delivery ignored');
    return reply.status(status).send({ status: 'ignored', reason, duplicate: !inserted });
  }

  app.post('/webhooks/github', async (req, reply) => {
    const signature = header(req.headers['x-hub-signature-256']);
    if (!signature) throw new ApiError(401, 'missing_signature', 'X-Hub-Signature-256 is required');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const text = raw.toString('utf8');
    let payload: unknown;
    let malformed = false;
    try {
      payload = JSON.parse(text);
    } catch {
      malformed = true;
    }
    const urls = malformed ? [] : repositoryUrls(payload);
    const candidates = urls.length ? await findRepositoriesByUrlsInAnyAccount(db, urls) : [];
    let repo: (typeof candidates)[number] | undefined;
    let ambiguous: string | undefined;
    const allowGlobal = ctx.allowGlobalWebhookSecret === true;
    /**
     * Signed with the global secret where that is not allowed: refused (logged, not stored, so that
     * GitHub's redelivery of the same id is handled once the repository has its own secret).
     */
    const refuseGlobal = (repositoryId: string | null): never => {
      const reason = 'signed with the global GITHUB_WEBHOOK_SECRET, which verifies deliveries only in development (WEBHOOK_GLOBAL_SECRET_ALLOWED=1): register the repository with its own webhook_secret';
      logger.warn({ deliveryId: header(req.headers['x-github-delivery']), repositoryId }, 'webhook delivery signed with the global secret refused');
      throw new ApiError(401, 'global_secret_refused', reason);
    };
    if (candidates.length === 0) {
      if (!(await ctx.verifySignature(ctx.webhookSecret, text, signature))) {
        throw new ApiError(401, 'invalid_signature', 'X-Hub-Signature-256 does not match');
      }
      if (!allowGlobal) refuseGlobal(null);
    } else {
      // Repositories with their own secret first: a delivery signed with it is theirs.
      const own = [];
      for (const c of candidates.filter((c) => c.webhook_secret_enc)) {
        if (await ctx.verifySignature(await secretFor(c), text, signature)) own.push(c);
      }
      const global = own.length === 0 && await ctx.verifySignature(ctx.webhookSecret, text, signature)
        ? candidates.filter((c) => !c.webhook_secret_enc) : [];
      if (global.length && !allowGlobal) refuseGlobal(global.length === 1 ? global[0]!.id : null);
      const matched = own.length ? own : global;
      if (matched.length === 0) throw new ApiError(401, 'invalid_signature', 'X-Hub-Signature-256 does not match');
      if (matched.length === 1) repo = matched[0];
      else ambiguous = `repository registered in ${matched.length} accounts with the same webhook secret: give each registration its own webhook_secret`;
    }
    if (malformed || !isObj(payload)) throw new ApiError(400, 'malformed_json', 'body is not a JSON object');

    const event = header(req.headers['x-github-event']);
    const deliveryId = header(req.headers['x-github-delivery']);
    if (!event || !deliveryId || deliveryId.length > 200) {
      throw new ApiError(400, 'missing_headers', 'X-GitHub-Event and X-GitHub-Delivery are required');
    }
    if (event === 'ping') return ignore(reply, deliveryId, event, repo, 'ping', 200);
    if (ambiguous) return ignore(reply, deliveryId, event, undefined, ambiguous);
    if (!repo) return ignore(reply, deliveryId, event, repo, 'unknown repository');
    if (event === 'pull_request') {
      return handlePullRequest(ctx, { reply, deliveryId, event, repo, payload, ignore: (reason) => ignore(reply, deliveryId, event, repo, reason) });
    }
    if (event !== 'push') return ignore(reply, deliveryId, event, repo, `event ${event} is not handled`);

    const parsed = PushPayload.safeParse(payload);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new ApiError(400, 'invalid_payload', `push payload: ${i.path.join('.')}: ${i.message}`);
    }
    const push = parsed.data;
    if (push.ref !== `refs/heads/${repo.tracked_branch}`) return ignore(reply, deliveryId, event, repo, `push to untracked ref ${push.ref}`);
    if (push.deleted) return ignore(reply, deliveryId, event, repo, 'tracked branch deleted');

    const workflowId = pushWorkflowId(deliveryId);
    const summary = { ref: push.ref, before: push.before, after: push.after, forced: push.forced };
    // A replay: the same signed body delivered before under another id (a new id does not make it new).
    const bodyDigest = createHash('sha256').update(raw).digest('hex');
    const replayOf = async (): Promise<string | undefined> => {
      const prev = await findDeliveryByDigest(db, repo.id, bodyDigest);
      return prev && prev.delivery_id !== deliveryId ? prev.delivery_id : undefined;
    };
    const refuseReplay = async (first: string) => {
      const reason = `replayed delivery: the same signed body was delivered as ${first}`;
      await insertDelivery(db, { deliveryId, event, repositoryId: repo.id, status: 'refused', reason, summary });
      logger.warn({ deliveryId, first, repositoryId: repo.id }, 'webhook delivery refused as a replay');
      return reply.status(409).send({ status: 'refused', code: 'replayed_delivery', reason });
    };
    const earlier = await replayOf();
    if (earlier) return refuseReplay(earlier);
    let stored: Awaited<ReturnType<typeof insertDelivery>>;
    try {
      stored = await insertDelivery(db, { deliveryId, event, repositoryId: repo.id, status: 'received', summary, bodyDigest });
    } catch (e) {
      // The same body under another id, stored by a concurrent request: a replay all the same.
      const first = (e as { code?: string }).code === '23505' ? await replayOf() : undefined;
      if (first) return refuseReplay(first);
      throw e;
    }
    const { row, inserted } = stored;
    // Seen before and already handed to Temporal (or ignored): nothing new to do.
    if (!inserted && row.status !== 'received') {
      return reply.status(202).send({ status: row.status, workflow_id: row.workflow_id, duplicate: true });
    }
    const author = push.head_commit?.author?.username ?? push.head_commit?.author?.email ?? push.pusher?.name;
    const input: PushWorkflowInput = {
      deliveryId, accountId: repo.account_id, repositoryId: repo.id, repoUrl: repo.url, branch: repo.tracked_branch,
      before: push.before, after: push.after, forced: push.forced, ...(author ? { author } : {}),
      ...(push.pusher?.name ? { pusher: push.pusher.name } : {}),
    };
    // The namespace of the repository's account: its workflows, its Transit key.
    const temporal = ctx.temporal.forNamespace(repo.temporal_namespace);
    try {
      await temporal.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => temporal.workflow.start(WORKFLOWS.push, {
        taskQueue: ctx.taskQueue,
        workflowId,
        args: [input],
        // A delivery is handled once, even after its workflow closed.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }));
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) {
        // Left `received`: a redelivery (or GitHub's retry) starts it.
        const codec = isCodecError(e) ? e : isCodecError((e as { cause?: unknown }).cause) ? (e as { cause: Error }).cause : undefined;
        if (codec) {
          // The workflow input could not be encrypted (Vault down, namespace key missing): nothing was started.
          logger.error({ deliveryId, err: codec.message }, 'encrypting the push workflow input failed');
          throw new ApiError(503, 'codec_unavailable', 'cannot encrypt the push workflow input right now; redeliver later');
        }
        logger.error({ deliveryId, err: (e as Error).message }, 'starting push workflow failed');
        throw new ApiError(503, 'temporal_unavailable', 'cannot start the push workflow right now; redeliver later');
      }
    }
    await markDeliveryStarted(db, deliveryId, workflowId);
    logger.info({ deliveryId, workflowId, repositoryId: repo.id, after: push.after }, 'push workflow started');
    return reply.status(202).send({ status: 'started', workflow_id: workflowId, duplicate: !inserted });
  });

  // Used by tests and the CLI to see what happened to a delivery (same signature-free rule as GitHub's UI: bearer auth).
  app.get('/webhooks/github/deliveries/:id', async (req) => {
    await authorize(ctx, req);
    const { id } = req.params as { id: string };
    const row = await getDelivery(db, id);
    const repo = row?.repository_id ? await getRepositoryById(db, row.repository_id) : undefined;
    // Only deliveries of the caller's account's repositories (or matched to none) are shown.
    if (!row || (repo && repo.account_id !== req.principal.accountId)) throw new ApiError(404, 'not_found', 'delivery not found');
    return {
      delivery_id: row.delivery_id, event: row.event, status: row.status, reason: row.reason, workflow_id: row.workflow_id,
      repository_id: repo?.id ?? null, received_at: row.received_at, updated_at: row.updated_at,
    };
  });
}
