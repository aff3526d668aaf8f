/**
 * GitHub feedback through the outbox, on the real Postgres and the GitHub API stand-in
 * (test/harness/github-api-stand-in.ts): a run's event enqueues its commit status in the same
 * transaction (emitRunEvent), the notifier posts it (token or GitHub App), retries while GitHub answers
 * 500 and posts only the latest state when it is back, keeps one comment per pull request (updated in
 * place, found again by its marker), and gives up on what GitHub refuses for good.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createRunActivities } from '../../activities/runs';
import { ensureAccount } from '../../db/repos/accounts';
import { enqueueComment, enqueueStatus, listNotifications } from '../../db/repos/github-notifications';
import { ensureOperation } from '../../db/repos/operations';
import { getPullRequest } from '../../db/repos/pull-requests';
import { insertRepository, updateGithubConnection } from '../../db/repos/repositories';
import { insertStackCode } from '../../db/repos/stack-codes';
import { insertState } from '../../db/repos/stack-states';
import type { SecretBox } from '../../common/secret-box';
import { COMMENT_MARKER, createGithubNotifier, type GithubNotifier } from '../../workers/github-notifier';
import { startGithubApiStandIn, type GithubApiStandIn } from '../harness/github-api-stand-in';
import { createTestDb, type TestDb } from '../harness/db';

/** Secrets at rest for a Postgres-only suite: reversible, and never the plaintext in the column. */
const box: SecretBox = {
  encrypt: async (p) => `test:v1:${Buffer.from(p).toString('base64')}`,
  decrypt: async (c) => Buffer.from(c.slice('test:v1:'.length), 'base64').toString(),
};
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const SHA = 'ab'.repeat(20);

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('db: GitHub outbox and notifier (real Postgres, GitHub stand-in)', function () {
  this.timeout(60_000);
  let t: TestDb;
  let gh: GithubApiStandIn;
  let accountId: string;
  let notifier: GithubNotifier | undefined;

  async function repo(auth: unknown, githubRepository = 'acme/infra'): Promise<string> {
    const r = await insertRepository(t.db, { accountId, url: `https://git.example/${randomUUID()}.git`, trackedBranch: 'main', webhookSecretEnc: null, credentialsEnc: null });
    await updateGithubConnection(t.db, accountId, r.id, { authEnc: await box.encrypt(JSON.stringify(auth)), githubRepository, apiUrl: gh.url });
    return r.id;
  }
  const start = (o: Partial<Parameters<typeof createGithubNotifier>[0]> = {}) => {
    notifier = createGithubNotifier({
      db: t.db, logger, secretBox: box, pollMs: 50, backoffMs: { base: 50, max: 200 }, publicUrl: 'https://stackly.example.com', client: { retries: 0 }, ...o,
    });
    return notifier;
  };

  before(async () => {
    t = await createTestDb('github_outbox');
    gh = await startGithubApiStandIn({ repositories: ['acme/infra'] });
    accountId = (await ensureAccount(t.db, 'default', 'stackly-test')).id;
  });
  afterEach(async () => {
    await notifier?.stop();
    notifier = undefined;
    gh.recover();
  });
  after(async () => {
    await gh?.stop();
    await t?.drop();
  });

  it('a run event enqueues its status in the same transaction; the notifier posts it with the token and a link to the run', async () => {
    const repositoryId = await repo({ token: gh.token });
    const code = await insertStackCode(t.db, {
      accountId, repositoryId, repoUrl: 'https://git.example/x.git', repoPath: 'stacks/net', name: 'network', commit: SHA, config: {}, status: 'active', error: null,
    });
    const stateId = randomUUID();
    await insertState(t.db, { id: stateId, accountId, stackCodeId: code.id, name: 'prod', commit: SHA, tfStateKey: `default/${stateId}/`, variables: {} });
    const runId = `run-deploy-${stateId}-${SHA.slice(0, 12)}-abcd1234`;
    const operationId = await ensureOperation(t.db, {
      stackStateId: stateId, type: 'apply', status: 'running', triggeredBy: 'test', workflowId: runId, fromCommit: SHA, toCommit: SHA, metadata: {},
    });
    const runs = createRunActivities({ db: t.db, logger });
    const ctx = { accountId, stackCodeId: code.id, stateId };
    await runs.emitRunEvent({ ctx, operationId, type: 'plan_initiated', payload: {}, dedupeKey: `${runId}:1` });
    await runs.emitRunEvent({ ctx, operationId, type: 'plan_completed', payload: { counts: { add: 2, change: 1, destroy: 0, replace: 0 } }, dedupeKey: `${runId}:2` });
    await runs.emitRunEvent({ ctx, operationId, type: 'approval_required', payload: { scope: 'review' }, dedupeKey: `${runId}:3` });
    // A retried activity records nothing twice, and enqueues nothing older over the latest.
    await runs.emitRunEvent({ ctx, operationId, type: 'plan_initiated', payload: {}, dedupeKey: `${runId}:1` });
    const rows = await listNotifications(t.db, repositoryId);
    assert.equal(rows.length, 1, 'one row per commit and context');
    assert.equal(rows[0]!.context, 'stackly/network/prod');
    assert.equal(rows[0]!.description, 'waiting for approval: +2 ~1 -0');
    start();
    await until('the status posted', () => gh.statusesOf(SHA, 'stackly/network/prod').length === 1);
    const s = gh.statusesOf(SHA, 'stackly/network/prod')[0]!;
    assert.equal(s.state, 'pending');
    assert.equal(s.description, 'waiting for approval: +2 ~1 -0');
    assert.equal(s.target_url, `https://stackly.example.com/api/runs/${runId}`);
    assert.equal(gh.requests.at(-1)!.auth, gh.token);
    await runs.emitRunEvent({ ctx, operationId, type: 'deploy_failed', payload: { phase: 'failed', error: `units failed: net (${'x'.repeat(300)})` }, dedupeKey: `${runId}:4` });
    await until('the failure posted', () => gh.statusesOf(SHA, 'stackly/network/prod').length === 2);
    const f = gh.statusesOf(SHA, 'stackly/network/prod')[1]!;
    assert.equal(f.state, 'failure');
    assert.ok(f.description!.startsWith('deploy failed: units failed: net ('));
    assert.ok(f.description!.length <= 140, 'clipped to what GitHub keeps');
    // Drift checks and repositories without a GitHub connection enqueue nothing.
    const driftOp = await ensureOperation(t.db, { stackStateId: stateId, type: 'drift', status: 'running', triggeredBy: 't', workflowId: `run-drift-${stateId}-x`, fromCommit: SHA, toCommit: SHA, metadata: {} });
    await runs.emitRunEvent({ ctx, operationId: driftOp, type: 'plan_initiated', payload: {}, dedupeKey: `drift:1` });
    assert.equal((await listNotifications(t.db, repositoryId)).length, 1);
  });

  it('GitHub answering 500 for a while: the statuses wait, and only the latest state is posted when it recovers', async () => {
    const repositoryId = await repo({ token: gh.token });
    const sha = 'cd'.repeat(20);
    gh.failWith(500);
    start();
    await enqueueStatus(t.db, { repositoryId, sha, context: 'stackly/a/prod', state: 'pending', description: 'queued' });
    await until('a failed attempt recorded', async () => ((await listNotifications(t.db, repositoryId))[0]?.attempts ?? 0) >= 2);
    await enqueueStatus(t.db, { repositoryId, sha, context: 'stackly/a/prod', state: 'pending', description: 'planning' });
    await enqueueStatus(t.db, { repositoryId, sha, context: 'stackly/a/prod', state: 'success', description: 'applied: +1 ~0 -0' });
    await new Promise((r) => setTimeout(r, 300));
    const row = (await listNotifications(t.db, repositoryId))[0]!;
    assert.equal(row.pending, true);
    assert.match(row.last_error!, /HTTP 500/);
    assert.equal(gh.statusesOf(sha).length, 0);
    gh.recover();
    await until('caught up', () => gh.statusesOf(sha).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(gh.statusesOf(sha).map((s) => [s.state, s.description]), [['success', 'applied: +1 ~0 -0']]);
    const done = (await listNotifications(t.db, repositoryId))[0]!;
    assert.equal(done.pending, false);
    assert.equal(done.delivered_version, done.version);
  });

  it('as a GitHub App: an installation token from the App JWT, then the status with that token', async () => {
    const repositoryId = await repo({ app_id: gh.app.id, private_key: gh.app.privateKeyPem, installation_id: gh.app.installationId });
    const sha = 'ef'.repeat(20);
    await enqueueStatus(t.db, { repositoryId, sha, context: 'stackly/b/prod', state: 'pending', description: 'planning' });
    start();
    await until('the status posted', () => gh.statusesOf(sha).length === 1);
    const exchange = gh.requests.find((r) => r.path === `/app/installations/${gh.app.installationId}/access_tokens`);
    assert.equal(exchange?.auth, 'jwt');
    assert.equal(exchange?.status, 201);
    const post = gh.requests.find((r) => r.path === `/repos/acme/infra/statuses/${sha}`)!;
    assert.match(post.auth!, /^ghs_/);
    // As an App it also writes a check run of the same name, updated as the state moves on.
    await until('a check run', () => gh.checkRuns.some((c) => c.head_sha === sha));
    assert.deepEqual(gh.checkRuns.filter((c) => c.head_sha === sha).map((c) => [c.name, c.status, c.conclusion]), [['stackly/b/prod', 'in_progress', null]]);
    await enqueueStatus(t.db, { repositoryId, sha, context: 'stackly/b/prod', state: 'failure', description: 'deploy failed: units failed: x' });
    await until('the check run completed', () => gh.checkRuns.find((c) => c.head_sha === sha)?.status === 'completed');
    assert.deepEqual(gh.checkRuns.filter((c) => c.head_sha === sha).map((c) => [c.name, c.status, c.conclusion]), [['stackly/b/prod', 'completed', 'failure']]);
  });

  it('one comment per pull request: created once, updated in place, found again by its marker when its id was lost', async () => {
    const repositoryId = await repo({ token: gh.token });
    start();
    await enqueueComment(t.db, { repositoryId, prNumber: 7, body: 'plan v1' });
    await until('created', () => gh.comments.some((c) => c.issue === 7));
    await enqueueComment(t.db, { repositoryId, prNumber: 7, body: 'plan v2' });
    await until('updated', () => gh.comments.find((c) => c.issue === 7)?.body.endsWith('plan v2') ?? false);
    assert.equal(gh.comments.filter((c) => c.issue === 7).length, 1);
    const pr = await getPullRequest(t.db, repositoryId, 7);
    assert.equal(pr?.comment_id, String(gh.comments.find((c) => c.issue === 7)!.id));
    // The id lost (a crash between GitHub's answer and ours): the marker finds the comment again.
    await t.db.updateTable('pull_requests').set({ comment_id: null }).where('repository_id', '=', repositoryId).execute();
    await enqueueComment(t.db, { repositoryId, prNumber: 7, body: 'plan v3' });
    await until('updated again', () => gh.comments.find((c) => c.issue === 7)?.body.endsWith('plan v3') ?? false);
    assert.equal(gh.comments.filter((c) => c.issue === 7).length, 1);
    assert.ok(gh.comments.find((c) => c.issue === 7)!.body.startsWith(COMMENT_MARKER));
    // Deleted on GitHub: a new one is made.
    gh.comments.splice(0, gh.comments.length);
    await enqueueComment(t.db, { repositoryId, prNumber: 7, body: 'plan v4' });
    await until('made again', () => gh.comments.some((c) => c.issue === 7 && c.body.endsWith('plan v4')));
  });

  it('what GitHub refuses for good (a repository it does not know, a bad token) is given up after a few attempts, with the error kept', async () => {
    const unknown = await repo({ token: gh.token }, 'acme/elsewhere');
    const badToken = await repo({ token: 'ghp_not-a-token' });
    await enqueueStatus(t.db, { repositoryId: unknown, sha: SHA, context: 'stackly/c/prod', state: 'pending', description: 'queued' });
    await enqueueStatus(t.db, { repositoryId: badToken, sha: SHA, context: 'stackly/c/prod', state: 'pending', description: 'queued' });
    start({ maxClientErrorAttempts: 3 });
    for (const id of [unknown, badToken]) {
      await until('given up', async () => (await listNotifications(t.db, id))[0]!.pending === false);
      const row = (await listNotifications(t.db, id))[0]!;
      assert.equal(row.attempts, 3);
      assert.equal(row.delivered_version, null);
      assert.match(row.last_error!, id === unknown ? /HTTP 404/ : /HTTP 401/);
      assert.ok(!row.last_error!.includes('ghp_not-a-token'), 'the token is never in the error');
    }
  });
});
