/**
 * Gates a push cannot weaken, and only the tracked branch deploys (issue 15), end to end: signed
 * GitHub push deliveries to the api, the real pushWorkflow, state queues and run workflows on a
 * control worker, an execution worker running tofu against MinIO, real git repositories, Postgres,
 * Vault.
 * - A push that removes its stack's approval policy still waits for approval in that run; the next
 *   push (the removal deployed) auto-deploys. A push that sets auto_deploy = true still waits; the
 *   next one does not.
 * - An account policy (set through the API) applies to a stack that names no policy.
 * - A push whose `after` is only on another branch, and a forged one naming a commit that does not
 *   exist, are refused with the reason recorded, nothing registered; an API-started run of a commit
 *   no longer on the tracked branch is refused.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { CachingSecretBox, VaultTransitSecretBox } from '../../common/secret-box';
import { createLogger } from '../../common/logger';
import { fixedClients } from '../../common/temporal';
import { waitForRunStarted } from '../../activities/run-requests';
import { ensureAccount } from '../../db/repos/accounts';
import { FINAL_PHASES, pushWorkflowId, type RunPhase, type RunProgress } from '../../workflows/definitions';
import type { PushResult } from '../../workflows/push';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { runResult, startStackly, type Stackly } from '../harness/stackly';
import { deliver, GitRepo, pushPayload } from './webhooks/helpers';

const AUTH = { authorization: '' };

describe('gates a push cannot weaken; only the tracked branch deploys (end to end)', function () {
  this.timeout(1_200_000);
  let s: Stackly;
  let api: FastifyInstance;
  let url: string;
  let label: string;
  let repo: GitRepo;
  const secret = 'gates-e2e-repository-secret-0123456789';

  const stackHcl = (name: string, o: { autoDeploy: boolean; policies?: string[] }) => `stack "${name}" {
  environment = "test"
  auto_deploy = ${o.autoDeploy}
  on_delete   = "loose"
  policies    = [${(o.policies ?? []).map((p) => `"${p}"`).join(', ')}]
  requires {
    features = ["terraform"]
    labels   = { suite = "${label}" }
  }
  state "prod" {}
}
`;
  const mainTf = (version: string) => `resource "terraform_data" "r" {\n  input = "${version}"\n}\n`;
  const APPROVAL = 'policy "needs_approval" {\n  approval {\n    min_approvers = 1\n  }\n}\n';

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await fetch(`${url}${path}`, {
      method, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
  /** Pushes HEAD to main and delivers it; or delivers a payload naming `after` for main without pushing anything. */
  async function push(forge?: { after: string }): Promise<{ deliveryId: string; after: string }> {
    const { before, after } = forge ? { before: repo.remoteHead(), after: forge.after } : repo.push();
    // A forged commit has no diff to describe: the payload of an empty push, naming it.
    const payload = { ...pushPayload(repo, { before, after: forge ? before : after }), after };
    const d = await deliver(url, payload, { secret });
    assert.equal(d.status, 202, JSON.stringify(d.body));
    return { deliveryId: d.deliveryId, after };
  }
  const pushResult = async (deliveryId: string) => (await s.client.workflow.getHandle(pushWorkflowId(deliveryId)).result()) as PushResult;
  async function phaseOf(runId: string, want: RunPhase[]): Promise<RunProgress> {
    assert.ok(await waitForRunStarted(s.client, runId, 60_000), `run ${runId} started`);
    for (let i = 0; ; i++) {
      const p = (await call('GET', `/api/runs/${runId}`)).body.progress as RunProgress | undefined;
      if (p && want.includes(p.phase)) return p;
      assert.ok(i < 1500 && !(p && FINAL_PHASES.includes(p.phase)), `run ${runId}: waiting for ${want.join('/')}, now ${p?.phase} ${p?.error ?? ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const result = (runId: string) => runResult<RunProgress>(s.client, runId);
  /** Pushes the working tree as one commit to main; returns its one run (of the stack's one state). */
  async function pushRun(message: string): Promise<string> {
    repo.commit(message);
    const r = await pushResult((await push()).deliveryId);
    assert.equal(r.runsStarted.length, 1, JSON.stringify(r));
    return r.runsStarted[0]!;
  }
  async function approveAndFinish(runId: string): Promise<RunProgress> {
    const a = await call('POST', `/api/runs/${runId}/approve`, {});
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const p = await result(runId);
    assert.equal(p.phase, 'succeeded', p.error);
    return p;
  }

  before(async () => {
    s = await startStackly('gates_e2e');
    label = s.t.schema;
    const vault = await h.vault();
    const account = await ensureAccount(s.t.db, 'default', s.namespace);
    AUTH.authorization = (await createPrincipal(s.t.db, { accountId: account.id, login: 'tester', role: 'admin' })).auth.authorization;
    api = await buildApi({
      db: s.t.db, logger: createLogger('api-test', process.env.TEST_LOG_LEVEL ?? 'silent'), temporal: fixedClients(s.client), platformAccountId: account.id,
      webhookSecret: 'global-secret-not-used-here-0123', secretBox: new CachingSecretBox(new VaultTransitSecretBox({ addr: vault.addr, token: vault.token })),
      bodyLimitBytes: 1024 * 1024, temporalTimeoutMs: 10_000, taskQueue: s.taskQueue,
    });
    url = await api.listen({ host: '127.0.0.1', port: 0 });
    await s.startExecWorker('exec-gates', { suite: label });
    repo = new GitRepo('gates');
    const r = await call('POST', '/api/repositories', { url: repo.url, tracked_branch: 'main', webhook_secret: secret });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => {
    await api?.close();
    await s?.stop();
    repo?.cleanup();
  });

  it('a push that removes its approval policy still waits for approval in that run; the next push auto-deploys', async () => {
    repo.write({ 'policies/approval.hcl': APPROVAL, 'stacks/app/stack.hcl': stackHcl('app', { autoDeploy: true, policies: ['needs_approval'] }), 'stacks/app/main.tf': mainTf('v1') });
    const first = await pushRun('app v1 with its approval policy');
    await phaseOf(first, ['awaiting_approval']);
    await approveAndFinish(first);

    repo.write({ 'stacks/app/stack.hcl': stackHcl('app', { autoDeploy: true }), 'stacks/app/main.tf': mainTf('v2') }).rm('policies/approval.hcl');
    const removing = await pushRun('drop the approval policy');
    const waiting = await phaseOf(removing, ['awaiting_approval', 'succeeded']);
    assert.equal(waiting.phase, 'awaiting_approval', 'the deployed commit\'s approval policy still applies');
    const pre = await s.t.db.selectFrom('events').select('payload').where('type', '=', 'policy_check').orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.ok(JSON.stringify(pre.payload).includes('needs_approval'), JSON.stringify(pre.payload));
    await approveAndFinish(removing);

    repo.write({ 'stacks/app/main.tf': mainTf('v3') });
    const next = await pushRun('app v3');
    const p = await result(next);
    assert.equal(p.phase, 'succeeded', `the removal is deployed: the next run auto-deploys (${p.error ?? ''})`);
  });

  it('a push that sets auto_deploy = true still waits for approval; the next push does not', async () => {
    repo.write({ 'stacks/app/stack.hcl': stackHcl('app', { autoDeploy: false }), 'stacks/app/main.tf': mainTf('v4') });
    const off = await pushRun('auto_deploy = false');
    await phaseOf(off, ['awaiting_approval']);
    await approveAndFinish(off);

    repo.write({ 'stacks/app/stack.hcl': stackHcl('app', { autoDeploy: true }), 'stacks/app/main.tf': mainTf('v5') });
    const on = await pushRun('auto_deploy = true');
    const waiting = await phaseOf(on, ['awaiting_approval', 'succeeded']);
    assert.equal(waiting.phase, 'awaiting_approval', 'the deployed commit did not auto-deploy');
    await approveAndFinish(on);

    repo.write({ 'stacks/app/main.tf': mainTf('v6') });
    const p = await result(await pushRun('app v6'));
    assert.equal(p.phase, 'succeeded', p.error);
  });

  it('an account policy applies to a stack that names no policy', async () => {
    const hcl = 'policy "no_data" {\n  security {\n    deny_actions {\n      resource_types = ["terraform_data"]\n      actions        = ["create"]\n    }\n  }\n}\n';
    const put = await call('PUT', '/api/policies/no_data', { hcl, selector: { path: 'stacks/other/**' } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    repo.write({ 'stacks/other/stack.hcl': stackHcl('other', { autoDeploy: true }), 'stacks/other/main.tf': mainTf('o1') });
    repo.commit('other, naming no policy');
    const r = await pushResult((await push()).deliveryId);
    assert.equal(r.runsStarted.length, 1, JSON.stringify(r));
    const p = await result(r.runsStarted[0]!).catch(async () => (await call('GET', `/api/runs/${r.runsStarted[0]}`)).body.progress as RunProgress);
    assert.equal(p.phase, 'failed');
    assert.match(p.error ?? '', /account:no_data/);
    assert.match(p.error ?? '', /terraform_data\.r/);
    assert.equal((await call('DELETE', '/api/policies/no_data')).status, 204);
  });

  it('a push whose commit is only on another branch, or does not exist, is refused with the reason; nothing registered', async () => {
    const codesBefore = await s.t.db.selectFrom('stack_codes').select(['id', 'current_commit']).orderBy('id').execute();
    repo.git('checkout', '--quiet', '-b', 'feature');
    repo.write({ 'stacks/app/main.tf': mainTf('from-a-feature-branch'), 'stacks/sneaky/stack.hcl': stackHcl('sneaky', { autoDeploy: true }), 'stacks/sneaky/main.tf': mainTf('s') });
    const feature = repo.commit('not on main');
    repo.push('feature');
    repo.git('checkout', '--quiet', 'main');
    const forged = 'f'.repeat(40);
    for (const after of [feature, forged]) {
      const d = await push({ after });
      const r = await pushResult(d.deliveryId);
      assert.deepEqual([r.registered, r.updated, r.runsStarted], [[], [], []]);
      const row = await s.t.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', d.deliveryId).executeTakeFirstOrThrow();
      assert.equal(row.status, 'refused');
      assert.match(row.reason ?? '', after === feature ? /not reachable from the tracked branch main/ : /does not exist/);
      const ev = await s.t.db.selectFrom('events').selectAll().where('type', '=', 'push_refused').where('dedupe_key', '=', `push_refused:${d.deliveryId}`).executeTakeFirstOrThrow();
      assert.equal((ev.payload as { commit: string }).commit, after);
      const shown = await call('GET', `/webhooks/github/deliveries/${d.deliveryId}`);
      assert.equal(shown.body.status, 'refused');
    }
    const codesAfter = await s.t.db.selectFrom('stack_codes').select(['id', 'current_commit']).orderBy('id').execute();
    assert.deepEqual(codesAfter, codesBefore, 'nothing registered');
  });

  it('an API-started run of a commit no longer on the tracked branch is refused, with an event', async () => {
    // stacks/other was registered by the last commit of main.
    const code = await s.t.db.selectFrom('stack_codes').selectAll().where('repo_path', '=', 'stacks/other').executeTakeFirstOrThrow();
    assert.equal(code.current_commit, repo.remoteHead());
    const state = await s.t.db.selectFrom('stack_states').selectAll().where('stack_code_id', '=', code.id).executeTakeFirstOrThrow();
    // History rewritten on GitHub without a delivery reaching Stackly: the registered commit is off the branch.
    repo.git('reset', '--quiet', '--hard', 'HEAD~1');
    repo.push('main', true);
    const started = await call('POST', `/api/states/${state.id}/runs`, {});
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = started.body.run_id as string;
    assert.ok(await waitForRunStarted(s.client, runId, 60_000));
    const err = await s.client.workflow.getHandle(runId).result().then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the run fails');
    const ev = await s.t.db.selectFrom('events').selectAll().where('type', '=', 'run_refused').where('stack_state_id', '=', state.id).executeTakeFirstOrThrow();
    assert.match((ev.payload as { reason: string }).reason, /not reachable from the tracked branch main/);
    assert.equal((ev.payload as { commit: string }).commit, code.current_commit);
  });
});
