/**
 * GitHub feedback end to end (issue 17) on real Temporal, tofu, MinIO, Postgres and git, with GitHub's
 * REST API played by the stand-in (test/harness/github-api-stand-in.ts) and pull_request deliveries
 * made from GitHub's own examples (@octokit/webhooks-examples, adjusted in repository URLs/ids, shas
 * and refs) and signed like GitHub signs them:
 *
 * - a run of the tracked branch sets its commit status through its phases (planning, waiting for
 *   approval with its plan, applied / rejected with the reason); GitHub answering 500 neither blocks
 *   nor fails it, and the status catches up when GitHub recovers;
 * - a pull request that changes one of two stacks gets one comment with that stack's plan and a
 *   status on its head; a push to the pull request updates the same comment; nothing is applied (no
 *   state object written, no lock, no operation, the deployed commit unchanged);
 * - closing the pull request cancels its plans; a fork's pull request is refused by default.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApi } from '../../api/server';
import { s3Client } from '../../common/s3';
import { fixedClients } from '../../common/temporal';
import { insertRepository, updateGithubConnection } from '../../db/repos/repositories';
import { pullRequestPlanWorkflowId } from '../../workflows/definitions';
import type { PullRequestPlanSummary } from '../../workflows/pull-request';
import { createGithubNotifier, type GithubNotifier } from '../../workers/github-notifier';
import { startGithubApiStandIn, type GithubApiStandIn } from '../harness/github-api-stand-in';
import * as h from '../harness/services';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import { decide, registerStack, startRun, stackHcl, type StackIds, type StackSpec } from '../workflows/helpers';

const SECRET = 'github-feedback-webhook-secret-0123';
const box = {
  encrypt: async (p: string) => `test:v1:${Buffer.from(p).toString('base64')}`,
  decrypt: async (c: string) => Buffer.from(c.slice('test:v1:'.length), 'base64').toString(),
};
type Example = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const examples = (require('@octokit/webhooks-examples') as Array<{ name: string; examples: Example[] }>).find((e) => e.name === 'pull_request')!.examples;

async function until<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms = 180_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('GitHub feedback: commit statuses of runs and pull-request plans (real Temporal, tofu, MinIO)', function () {
  this.timeout(900_000);
  let s: Stackly;
  let gh: GithubApiStandIn;
  let api: FastifyInstance;
  let notifier: GithubNotifier;
  let repo: ReturnType<typeof makeRepo>;
  let a: StackIds;
  let b: StackIds;
  let c0: string;
  let repositoryId: string;
  const labels: Record<string, string> = {};

  const git = (...args: string[]) => execFileSync('git', args, {
    cwd: repo.work, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  }).trim();
  const write = (path: string, content: string) => {
    mkdirSync(join(repo.work, path, '..'), { recursive: true });
    writeFileSync(join(repo.work, path), content);
  };
  /** Commits on the pull request's branch and pushes it where GitHub keeps a pull request's head. */
  const pushPr = (n: number, files: Record<string, string>, message: string): string => {
    for (const [p, content] of Object.entries(files)) write(p, content);
    git('add', '-A');
    git('commit', '--quiet', '-m', message);
    git('push', '--quiet', '--force', 'origin', `HEAD:refs/pull/${n}/head`);
    return git('rev-parse', 'HEAD');
  };
  const deliver = async (action: string, o: { number: number; head: string; fork?: boolean; deliveryId?: string }) => {
    const p = structuredClone(examples.find((e) => e.action === action)!);
    p.number = o.number;
    p.pull_request.number = o.number;
    for (const r of [p.repository, p.pull_request.base.repo, ...(o.fork ? [] : [p.pull_request.head.repo])]) {
      Object.assign(r, { clone_url: repo.url, html_url: repo.url, git_url: repo.url, ssh_url: repo.url, svn_url: repo.url, url: repo.url, id: 4242 });
    }
    if (o.fork) Object.assign(p.pull_request.head.repo, { id: 9999, full_name: 'stranger/infra-fork', fork: true });
    Object.assign(p.pull_request.head, { sha: o.head, ref: 'feature' });
    Object.assign(p.pull_request.base, { sha: c0, ref: 'main' });
    const body = JSON.stringify(p);
    const deliveryId = o.deliveryId ?? randomUUID();
    const res = await api.inject({
      method: 'POST', url: '/webhooks/github', payload: body,
      headers: {
        'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': deliveryId,
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown>, deliveryId };
  };
  const lastStatus = (sha: string, context: string) => gh.statusesOf(sha, context).at(-1);
  const objectsOf = async (prefix: string) => {
    const s3 = await h.s3();
    const out = await s3Client(s3).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => `${o.Key}:${o.ETag}`).sort();
  };

  before(async () => {
    s = await startStackly('github_feedback');
    labels.suite = s.t.schema;
    await s.startExecWorker('exec-gh', labels);
    gh = await startGithubApiStandIn({ repositories: ['acme/infra'] });
    repo = makeRepo(h.testStateDir());
    const spec = (name: string): Omit<StackSpec, 'repoUrl' | 'commit'> => ({ account: 'acme', repoPath: `stacks/${name}`, name, requires: { features: ['terraform'], labels } });
    for (const name of ['a', 'b']) {
      write(`stacks/${name}/stack.hcl`, stackHcl(spec(name)));
      write(`stacks/${name}/main.tf`, `resource "terraform_data" "${name}" {\n  input = "${name}-v1"\n}\n`);
    }
    c0 = repo.commit('two stacks');
    a = await registerStack(s, { ...spec('a'), repoUrl: repo.url, commit: c0 });
    b = await registerStack(s, { ...spec('b'), repoUrl: repo.url, commit: c0 });
    // The repository's own webhook secret signs the deliveries (the global one is refused outside development).
    const r = await insertRepository(s.t.db, { accountId: a.accountId, url: repo.url, trackedBranch: 'main', webhookSecretEnc: await box.encrypt(SECRET), credentialsEnc: null });
    repositoryId = r.id;
    await updateGithubConnection(s.t.db, a.accountId, r.id, { authEnc: await box.encrypt(JSON.stringify({ token: gh.token })), githubRepository: 'acme/infra', apiUrl: gh.url });
    await s.t.db.updateTable('stack_codes').set({ repository_id: r.id }).where('id', 'in', [a.codeId, b.codeId]).execute();
    api = await buildApi({
      db: s.t.db, logger: pino({ level: 'silent' }), temporal: fixedClients(s.client), platformAccountId: a.accountId,
      webhookSecret: SECRET, secretBox: box, bodyLimitBytes: 1 << 20, temporalTimeoutMs: 5000, taskQueue: s.taskQueue,
    });
    notifier = createGithubNotifier({
      db: s.t.db, logger: pino({ level: 'silent' }), secretBox: box, pollMs: 100, backoffMs: { base: 200, max: 1000 },
      publicUrl: 'https://stackly.example.com', client: { retries: 0 },
    });
  });
  after(async () => {
    await notifier?.stop();
    await api?.close();
    await gh?.stop();
    await s?.stop();
  });

  it('a run sets its commit status through its phases; GitHub answering 500 neither blocks nor fails it, and the status catches up', async () => {
    const run = await startRun(s, a);
    const ctx = 'stackly/a/test';
    await until('waiting for approval on GitHub', () => lastStatus(c0, ctx)?.description?.startsWith('waiting for approval'));
    assert.deepEqual(lastStatus(c0, ctx)!.state, 'pending');
    assert.equal(lastStatus(c0, ctx)!.description, 'waiting for approval: +1 ~0 -0');
    assert.equal(lastStatus(c0, ctx)!.target_url, `https://stackly.example.com/api/runs/${run.workflowId}`);
    assert.ok(gh.statusesOf(c0, ctx).some((x) => x.description === 'planning' || x.description?.startsWith('planned')), 'planning was shown');

    gh.failWith(500);
    const posted = gh.statusesOf(c0, ctx).length;
    await decide(s, run, { by: 'alice' });
    const done = await run.result() as { phase: string };
    assert.equal(done.phase, 'succeeded', 'GitHub down does not fail the run');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(gh.statusesOf(c0, ctx).length, posted, 'nothing reached GitHub while it answered 500');
    assert.ok(gh.requests.some((x) => x.status === 500), 'the notifier kept trying');
    gh.recover();
    await until('applied on GitHub', () => lastStatus(c0, ctx)?.state === 'success');
    assert.equal(lastStatus(c0, ctx)!.description, 'applied: +1 ~0 -0');

    // Rejected: failure, with the reason.
    const runB = await startRun(s, b);
    await until('b waiting for approval', () => lastStatus(c0, 'stackly/b/test')?.description?.startsWith('waiting for approval'));
    await decide(s, runB, { by: 'bob', decision: 'reject', comment: 'not now' });
    await runB.result();
    await until('b rejected on GitHub', () => lastStatus(c0, 'stackly/b/test')?.state === 'failure');
    assert.match(lastStatus(c0, 'stackly/b/test')!.description!, /^rejected: by bob: not now/);
  });

  it('a pull request changing one of two stacks: one comment with its plan and a status on its head, updated in place by the next push; nothing applied, nothing locked', async () => {
    const before = { a: await objectsOf(a.statePrefix), b: await objectsOf(b.statePrefix) };
    const deployed = await s.t.db.selectFrom('stack_states').select(['id', 'commit_hash']).orderBy('id').execute();
    const ops = (await s.t.db.selectFrom('operations').select('id').execute()).length;
    git('checkout', '--quiet', '-b', 'feature');
    const h1 = pushPr(7, { 'stacks/a/main.tf': 'resource "terraform_data" "a" {\n  input = "a-v1"\n}\nresource "terraform_data" "extra" {\n  input = "x"\n}\n' }, 'add extra');
    const d1 = await deliver('opened', { number: 7, head: h1 });
    assert.equal(d1.status, 202, JSON.stringify(d1.body));
    assert.equal(d1.body.status, 'started');
    const r1 = await s.client.workflow.getHandle(pullRequestPlanWorkflowId(d1.deliveryId)).result() as PullRequestPlanSummary;
    assert.deepEqual(r1.results.map((x) => [x.stack, x.state, x.status]), [['a', 'test', 'planned']], 'only the stack it changes');
    assert.deepEqual(r1.results[0]!.counts, { add: 1, change: 0, destroy: 0, replace: 0 });
    const comment = await until('the comment', () => gh.comments.find((x) => x.issue === 7 && x.body.includes(h1.slice(0, 12)) && !x.body.includes('planning')));
    assert.match(comment.body, /\+ terraform_data\.extra \(create\)/);
    assert.ok(!comment.body.includes('stacks/b'), 'the stack it does not change is not in it');
    await until('the plan status on the head', () => lastStatus(h1, 'stackly/plan/a/test')?.state === 'success');
    assert.equal(lastStatus(h1, 'stackly/plan/a/test')!.description, 'plan: +1 ~0 -0');

    const h2 = pushPr(7, { 'stacks/a/main.tf': 'resource "terraform_data" "a" {\n  input = "a-v2"\n}\n' }, 'change a instead');
    const d2 = await deliver('synchronize', { number: 7, head: h2 });
    assert.equal(d2.status, 202);
    const r2 = await s.client.workflow.getHandle(pullRequestPlanWorkflowId(d2.deliveryId)).result() as PullRequestPlanSummary;
    assert.deepEqual(r2.results[0]!.counts, { add: 0, change: 1, destroy: 0, replace: 0 });
    await until('the same comment updated', () => gh.comments.find((x) => x.issue === 7 && x.body.includes(h2.slice(0, 12)) && x.body.includes('terraform_data.a (update)')));
    assert.equal(gh.comments.filter((x) => x.issue === 7).length, 1, 'one comment per pull request');
    assert.equal(gh.comments.find((x) => x.issue === 7)!.id, comment.id);

    // Nothing applied: the states' objects (and lock files) unchanged, no operation, the deployed commits unchanged.
    assert.deepEqual({ a: await objectsOf(a.statePrefix), b: await objectsOf(b.statePrefix) }, before);
    assert.deepEqual(await s.t.db.selectFrom('stack_states').select(['id', 'commit_hash']).orderBy('id').execute(), deployed);
    assert.equal((await s.t.db.selectFrom('operations').select('id').execute()).length, ops);
    assert.ok(!before.a.some((k) => k.includes('.tflock')));
  });

  it('closing the pull request cancels its plans; a fork pull request is refused by default', async () => {
    const h3 = pushPr(7, { 'stacks/a/main.tf': 'resource "terraform_data" "a" {\n  input = "a-v3"\n}\n' }, 'again');
    const d3 = await deliver('synchronize', { number: 7, head: h3 });
    assert.equal(d3.status, 202);
    const closed = await deliver('closed', { number: 7, head: h3 });
    assert.equal(closed.status, 202, JSON.stringify(closed.body));
    assert.equal(closed.body.status, 'cancelled');
    assert.equal(closed.body.workflow_id, pullRequestPlanWorkflowId(d3.deliveryId));
    await assert.rejects(s.client.workflow.getHandle(pullRequestPlanWorkflowId(d3.deliveryId)).result(), /cancel/i);
    const pr = await s.t.db.selectFrom('pull_requests').selectAll().where('repository_id', '=', repositoryId).where('number', '=', 7).executeTakeFirstOrThrow();
    assert.equal(pr.state, 'closed');

    const fork = await deliver('opened', { number: 8, head: h3, fork: true });
    assert.equal(fork.status, 202);
    assert.equal(fork.body.status, 'ignored');
    await until('the refusal on the pull request', () => gh.comments.find((x) => x.issue === 8 && /comes from a fork/.test(x.body)));
    assert.equal(gh.statuses.filter((x) => x.context.startsWith('stackly/plan/') && x.sha === h3 && x.state === 'success').length, 0);
  });
});
