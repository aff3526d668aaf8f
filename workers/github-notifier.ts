/**
 * The GitHub notifier of the control worker: drains the outbox `github_notifications` (written by
 * runs' events and pull-request plans in their own transactions) to GitHub's REST API: commit
 * statuses (`POST /repos/{owner}/{repo}/statuses/{sha}`) and the one comment per pull request
 * (created once, then `PATCH`ed in place; its id kept in `pull_requests.comment_id`, found again by
 * its marker when a crash lost it).
 *
 * Why an outbox drained here, and not an activity of the run: a run never waits for GitHub and never
 * fails because of it (no workflow command changes, nothing in Temporal history), yet nothing is lost:
 * the row is committed with the event that caused it, and stays until GitHub has taken it. Rows are
 * leased (`leased_until`), so several control workers share the work without posting one row twice at
 * once. Each key (a commit's context, a pull request's comment) has one row and the latest state wins:
 * a burst of phases while GitHub is down is one post when it is back.
 *
 * Failures: 5xx, network errors, rate limits (403/429 with `retry-after` or `x-ratelimit-remaining: 0`)
 * are retried with exponential backoff (capped), honouring GitHub's reset time; other 4xx (bad token,
 * unknown commit) are retried a few times, then given up with the error kept on the row.
 */
import type { Logger } from 'pino';
import type { Db } from '../db';
import type { SecretBox } from '../common/secret-box';
import { githubClient, githubErrorHeaders, githubErrorStatus, isAppAuth, type GithubAuth, type GithubClientOptions, type GithubConnection } from '../common/github';
import { leaseDueNotifications, markNotificationDelivered, markNotificationFailed, setNotificationCheckRun } from '../db/repos/github-notifications';
import { getPullRequest, setPullRequestComment } from '../db/repos/pull-requests';
import { getRepositoryById } from '../db/repos/repositories';
import type { GithubNotification } from '../db/tables/github';

/** Marks Stackly's comment on a pull request (found again by it if its id was lost). */
export const COMMENT_MARKER = '<!-- stackly:pull-request-plan -->';

export interface GithubNotifierDeps {
  db: Db;
  logger: Logger;
  secretBox: SecretBox;
  /** The api as users reach it: statuses link to `<url>/api/runs/<run id>`. */
  publicUrl?: string;
  /** How often the outbox is looked at when idle (ms); default 2000. */
  pollMs?: number;
  /** Rows leased per round; default 20. */
  batch?: number;
  /** First retry delay and its cap (ms); defaults 2 s and 5 minutes. */
  backoffMs?: { base: number; max: number };
  /** Non-transient failures (4xx other than rate limits) are given up after this many attempts; default 5. */
  maxClientErrorAttempts?: number;
  client?: GithubClientOptions;
}

export interface GithubNotifier {
  /** One round: leases due rows and posts them; returns how many were posted. */
  drainOnce(): Promise<number>;
  stop(): Promise<void>;
}

const LEASE_MS = 60_000;

class Permanent extends Error {}

/** When to try again after `e`, and whether it is worth it. */
export function retryPlan(e: unknown, attempts: number, o: { base: number; max: number; maxClientErrorAttempts: number; now: number }): { retryAt: Date; giveUp: boolean } {
  const status = githubErrorStatus(e);
  const headers = githubErrorHeaders(e);
  const backoff = Math.min(o.max, o.base * 2 ** Math.min(attempts, 20));
  let wait = backoff;
  const retryAfter = Number(headers['retry-after']);
  const rateLimited = status === 429 || (status === 403 && (String(headers['x-ratelimit-remaining']) === '0' || Number.isFinite(retryAfter)));
  if (rateLimited) {
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isFinite(retryAfter) && retryAfter > 0) wait = Math.max(backoff, retryAfter * 1000);
    else if (Number.isFinite(reset) && reset > 0) wait = Math.max(backoff, reset * 1000 - o.now);
  }
  const transient = e instanceof Permanent ? false : status === undefined || status >= 500 || rateLimited;
  return { retryAt: new Date(o.now + wait), giveUp: !transient && attempts + 1 >= o.maxClientErrorAttempts };
}

export function createGithubNotifier(deps: GithubNotifierDeps): GithubNotifier {
  const { db, logger } = deps;
  const backoff = deps.backoffMs ?? { base: 2000, max: 5 * 60_000 };
  const maxClientErrorAttempts = deps.maxClientErrorAttempts ?? 5;

  /** One client per repository and connection (an App's installation token is reused until it expires). */
  const clients = new Map<string, { key: string; c: Connected }>();
  type Connected = GithubConnection & { gh: Awaited<ReturnType<typeof githubClient>> };

  async function connectionOf(repositoryId: string): Promise<Connected> {
    const repo = await getRepositoryById(db, repositoryId);
    if (!repo?.github_auth_enc || !repo.github_repository) throw new Permanent('the repository is no longer connected to GitHub');
    const key = `${repo.github_auth_enc}\n${repo.github_repository}\n${repo.github_api_url}`;
    const hit = clients.get(repositoryId);
    if (hit?.key === key) return hit.c;
    const auth = JSON.parse(await deps.secretBox.decrypt(repo.github_auth_enc)) as GithubAuth;
    const [owner, name] = repo.github_repository.split('/') as [string, string];
    const conn: GithubConnection = { auth, apiUrl: repo.github_api_url ?? 'https://api.github.com', owner, repo: name };
    const c = { ...conn, gh: await githubClient(conn, deps.client) };
    if (clients.size > 500) clients.clear();
    clients.set(repositoryId, { key, c });
    return c;
  }

  async function post(n: GithubNotification, c: Connected): Promise<void> {
    const { gh } = c;
    const where = { owner: c.owner, repo: c.repo };
    if (n.kind === 'status') {
      const targetUrl = deps.publicUrl && n.run_id ? `${deps.publicUrl.replace(/\/+$/, '')}/api/runs/${encodeURIComponent(n.run_id)}` : undefined;
      await gh.rest.repos.createCommitStatus({
        ...where, sha: n.sha!, state: n.state!, context: n.context!, description: n.description ?? '', ...(targetUrl ? { target_url: targetUrl } : {}),
      });
      // A GitHub App may also write checks: the same state as a check run (created once, then updated).
      if (isAppAuth(c.auth)) await postCheckRun(n, c, targetUrl);
      return;
    }
    const number = n.pr_number!;
    const body = `${COMMENT_MARKER}\n${n.body ?? ''}`;
    let commentId = (await getPullRequest(db, n.repository_id, number))?.comment_id ?? null;
    if (commentId === null) {
      // Made before but its id not kept (a crash between GitHub's answer and ours): find it by its marker.
      for await (const page of gh.paginate.iterator(gh.rest.issues.listComments, { ...where, issue_number: number, per_page: 100 })) {
        const mine = page.data.find((x) => x.body?.startsWith(COMMENT_MARKER));
        if (mine) { commentId = String(mine.id); break; }
      }
      if (commentId !== null) await setPullRequestComment(db, n.repository_id, number, commentId);
    }
    if (commentId !== null) {
      try {
        await gh.rest.issues.updateComment({ ...where, comment_id: Number(commentId), body });
        return;
      } catch (e) {
        // Deleted by someone on GitHub: make a new one.
        if (githubErrorStatus(e) !== 404) throw e;
      }
    }
    const made = await gh.rest.issues.createComment({ ...where, issue_number: number, body });
    await setPullRequestComment(db, n.repository_id, number, String(made.data.id));
  }

  async function postCheckRun(n: GithubNotification, c: Connected, detailsUrl: string | undefined): Promise<void> {
    const { gh } = c;
    const done = n.state !== 'pending';
    const conclusion = n.state === 'success' ? 'success' : n.state === 'failure' ? 'failure' : 'cancelled';
    const fields = {
      owner: c.owner, repo: c.repo, status: (done ? 'completed' : 'in_progress') as 'completed' | 'in_progress',
      ...(done ? { conclusion: conclusion as 'success' | 'failure' | 'cancelled' } : {}),
      output: { title: n.description ?? n.state ?? '', summary: n.description ?? '' },
      ...(detailsUrl ? { details_url: detailsUrl } : {}),
    };
    if (n.check_run_id !== null) {
      await gh.rest.checks.update({ ...fields, check_run_id: Number(n.check_run_id) });
      return;
    }
    const made = await gh.rest.checks.create({ ...fields, name: n.context!, head_sha: n.sha! });
    await setNotificationCheckRun(db, n.id, String(made.data.id));
  }

  async function drainOnce(): Promise<number> {
    const rows = await leaseDueNotifications(db, deps.batch ?? 20, LEASE_MS);
    let posted = 0;
    const connections = new Map<string, Promise<Connected>>();
    for (const n of rows) {
      try {
        let conn = connections.get(n.repository_id);
        if (!conn) {
          conn = connectionOf(n.repository_id);
          connections.set(n.repository_id, conn);
        }
        await post(n, await conn);
        await markNotificationDelivered(db, n.id, n.version);
        posted++;
      } catch (e) {
        const plan = retryPlan(e, n.attempts, { ...backoff, maxClientErrorAttempts, now: Date.now() });
        const status = githubErrorStatus(e);
        const error = `${status ? `HTTP ${status}: ` : ''}${(e as Error).message}`.slice(0, 500);
        logger.warn({ notification: n.id, kind: n.kind, key: n.key, attempts: n.attempts + 1, status, err: error, retryAt: plan.retryAt, giveUp: plan.giveUp },
          plan.giveUp ? 'telling GitHub failed; giving up' : 'telling GitHub failed; will retry');
        await markNotificationFailed(db, n.id, n.version, { error, ...plan }).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'recording a GitHub failure'));
      }
    }
    return posted;
  }

  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      let posted = 0;
      try {
        posted = await drainOnce();
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'reading the GitHub outbox failed');
      }
      if (posted > 0) continue;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, deps.pollMs ?? 2000).unref();
      });
    }
  })();

  return {
    drainOnce,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
