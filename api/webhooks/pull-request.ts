/**
 * `pull_request` deliveries of `POST /webhooks/github` (issue 17), after api/routes/webhooks.ts has
 * checked the signature and found the repository: review plans of the pull request's head
 * (workflows/pull-request.ts), one workflow per delivery.
 *
 * - `opened`, `synchronize`, `reopened` of a pull request into the tracked branch of a repository
 *   connected to GitHub: the delivery is stored, the pull request's head and plan workflow recorded
 *   (`pull_requests`), `pullRequestPlanWorkflow` started (`pr-plan-<delivery id>`), the plans of its
 *   previous head cancelled, 202. Temporal unreachable: 503, the delivery stays `received`, GitHub's
 *   redelivery starts it.
 * - `closed`: its plans are cancelled (202).
 * - A pull request whose head is in another repository (a fork) runs strangers' code on our workers
 *   with the stack's variables: refused unless the repository allows fork pull requests, and the
 *   pull request's comment says why.
 * - Anything else (other actions, a repository not connected to GitHub, another base branch): ignored with the reason.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { isCodecError } from '../../common/codec';
import { enqueueComment } from '../../db/repos/github-notifications';
import { closePullRequest, openPullRequest } from '../../db/repos/pull-requests';
import { insertDelivery, markDeliveryStarted } from '../../db/repos/webhook-deliveries';
import type { Repository } from '../../db/tables/repositories';
import { forkRefusedComment } from '../../activities/pull-request-comment';
import { WORKFLOWS, pullRequestPlanWorkflowId } from '../../workflows/definitions';
import type { PullRequestPlanInput } from '../../workflows/model/pull-request';
import type { RouteContext } from '../context';
import { ApiError } from '../errors';

const COMMIT = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character commit hash');
const RepoRef = z.object({ id: z.number().int(), full_name: z.string().min(1) });

/** The part of GitHub's pull_request payload Stackly uses. */
export const PullRequestPayload = z.object({
  action: z.string().min(1),
  number: z.number().int().positive(),
  pull_request: z.object({
    head: z.object({ sha: COMMIT, ref: z.string().min(1), repo: RepoRef.nullable() }),
    base: z.object({ sha: COMMIT, ref: z.string().min(1), repo: RepoRef }),
  }),
  sender: z.object({ login: z.string() }).partial().optional(),
});
export type PullRequestEvent = z.infer<typeof PullRequestPayload>;

const PLANNED = new Set(['opened', 'synchronize', 'reopened']);

/** Is the pull request's head in another repository than its base (a fork, or a deleted one)? */
export const isFork = (p: PullRequestEvent): boolean => p.pull_request.head.repo === null || p.pull_request.head.repo.id !== p.pull_request.base.repo.id;

export interface PullRequestDelivery {
  reply: FastifyReply;
  deliveryId: string;
  event: string;
  repo: Repository & { temporal_namespace: string };
  payload: unknown;
  /** Stores the delivery as ignored with the reason and answers (api/routes/webhooks.ts). */
  ignore: (reason: string) => Promise<unknown>;
}

export async function handlePullRequest(ctx: RouteContext, d: PullRequestDelivery): Promise<unknown> {
  const { db, logger } = ctx;
  const { reply, deliveryId, event, repo } = d;
  const action = (d.payload as { action?: unknown }).action;
  if (typeof action === 'string' && !PLANNED.has(action) && action !== 'closed') return d.ignore(`pull_request action ${action} is not handled`);
  const parsed = PullRequestPayload.safeParse(d.payload);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new ApiError(400, 'invalid_payload', `pull_request payload: ${i.path.join('.')}: ${i.message}`);
  }
  const pr = parsed.data;
  if (!repo.github_auth_enc) return d.ignore('repository is not connected to GitHub: pull requests are not planned');
  if (pr.pull_request.base.ref !== repo.tracked_branch) return d.ignore(`pull request into untracked branch ${pr.pull_request.base.ref}`);
  const temporal = ctx.temporal.forNamespace(repo.temporal_namespace);
  const summary = { action: pr.action, number: pr.number, head: pr.pull_request.head.sha, base: pr.pull_request.base.sha };

  if (pr.action === 'closed') {
    const { row, inserted } = await insertDelivery(db, { deliveryId, event, repositoryId: repo.id, status: 'received', summary });
    if (!inserted && row.status !== 'received') return reply.status(202).send({ status: row.status, workflow_id: row.workflow_id, duplicate: true });
    const { workflowId } = await closePullRequest(db, repo.id, pr.number);
    if (workflowId) await cancelPlans(workflowId, true);
    await markDeliveryStarted(db, deliveryId, workflowId ?? '');
    logger.info({ deliveryId, repositoryId: repo.id, number: pr.number, cancelled: workflowId }, 'pull request closed: its plans cancelled');
    return reply.status(202).send({ status: 'cancelled', workflow_id: workflowId, duplicate: !inserted });
  }

  if (isFork(pr) && !repo.allow_fork_prs) {
    const fork = pr.pull_request.head.repo?.full_name ?? '(a deleted repository)';
    const reason = `pull request from a fork (${fork}): not planned (the repository does not allow fork pull requests)`;
    const { inserted } = await insertDelivery(db, { deliveryId, event, repositoryId: repo.id, status: 'ignored', reason, summary });
    // Said on the pull request once per delivery (the outbox posts it).
    if (inserted) await enqueueComment(db, { repositoryId: repo.id, prNumber: pr.number, body: forkRefusedComment(pr.pull_request.head.sha, fork) });
    logger.info({ deliveryId, repositoryId: repo.id, number: pr.number, fork }, 'fork pull request refused');
    return reply.status(202).send({ status: 'ignored', reason, duplicate: !inserted });
  }

  const { row, inserted } = await insertDelivery(db, { deliveryId, event, repositoryId: repo.id, status: 'received', summary });
  if (!inserted && row.status !== 'received') return reply.status(202).send({ status: row.status, workflow_id: row.workflow_id, duplicate: true });
  const workflowId = pullRequestPlanWorkflowId(deliveryId);
  const { previousWorkflowId } = await openPullRequest(db, {
    repositoryId: repo.id, number: pr.number, headSha: pr.pull_request.head.sha, baseSha: pr.pull_request.base.sha, workflowId,
  });
  const input: PullRequestPlanInput = {
    deliveryId, accountId: repo.account_id, repositoryId: repo.id, repoUrl: repo.url, branch: repo.tracked_branch,
    number: pr.number, headSha: pr.pull_request.head.sha, baseSha: pr.pull_request.base.sha, headRef: `refs/pull/${pr.number}/head`,
    ...(pr.sender?.login ? { sender: pr.sender.login } : {}),
  };
  try {
    await temporal.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => temporal.workflow.start(WORKFLOWS.pullRequestPlan, {
      taskQueue: ctx.taskQueue, workflowId, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE',
    }));
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) {
      const codec = isCodecError(e) || isCodecError((e as { cause?: unknown }).cause);
      logger.error({ deliveryId, err: (e as Error).message }, 'starting pull request plans failed');
      throw codec
        ? new ApiError(503, 'codec_unavailable', 'cannot encrypt the workflow input right now; redeliver later')
        : new ApiError(503, 'temporal_unavailable', 'cannot start the pull request plans right now; redeliver later');
    }
  }
  // The plans of the previous head say nothing any more: stop them (their comment is not written: activities/pull-requests.ts).
  if (previousWorkflowId) await cancelPlans(previousWorkflowId, false);
  await markDeliveryStarted(db, deliveryId, workflowId);
  logger.info({ deliveryId, workflowId, repositoryId: repo.id, number: pr.number, head: pr.pull_request.head.sha }, 'pull request plans started');
  return reply.status(202).send({ status: 'started', workflow_id: workflowId, duplicate: !inserted });

  /** Cancels a plan workflow; one already ended is fine. `required`: Temporal unreachable is a 503 (GitHub redelivers). */
  async function cancelPlans(id: string, required: boolean): Promise<void> {
    try {
      await temporal.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => temporal.workflow.getHandle(id).cancel());
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'WorkflowNotFoundError') return;
      logger.warn({ workflowId: id, err: (e as Error).message }, 'cancelling pull request plans failed');
      if (required) throw new ApiError(503, 'temporal_unavailable', 'cannot cancel the pull request plans right now; redeliver later');
    }
  }
}
