/**
 * Stack identity and one run at a time, end to end (issue 13): signed GitHub push deliveries to the
 * api, the real pushWorkflow, state queues and run workflows on a control worker, an execution
 * worker running tofu against MinIO, real git repositories, Postgres, Vault. Every stack
 * auto-deploys, so each push ends in applied infrastructure (or a superseded run).
 */
import assert from 'node:assert/strict';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { CachingSecretBox, VaultTransitSecretBox } from '../../common/secret-box';
import { createLogger } from '../../common/logger';
import { fixedClients } from '../../common/temporal';
import { waitForRunStarted } from '../../activities/run-requests';
import { s3Client } from '../../common/s3';
import { ensureAccount } from '../../db/repos/accounts';
import { FINAL_PHASES, pushWorkflowId, type RunProgress } from '../../workflows/definitions';
import type { PushResult } from '../../workflows/push';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { runResult as harnessRunResult, startStackly, type Stackly } from '../harness/stackly';
import { deliver, GitRepo, pushPayload } from './webhooks/helpers';

/** The suite's admin (an API key made in its schema). */
const AUTH = { authorization: '' };

describe('stack identity and one run at a time (end to end)', function () {
  this.timeout(900_000);
  let s: Stackly;
  let api: FastifyInstance;
  let url: string;
  let label: string;
  const repos: GitRepo[] = [];
  const secrets = new Map<GitRepo, string>();

  const stackHcl = (name: string, labelValue: string, extra = '') => `stack "${name}" {
  environment = "test"
  auto_deploy = true
  on_delete   = "loose"
  requires {
    features = ["terraform"]
    labels   = { suite = "${label}" }
  }
  state "prod" {
    variables { label = "${labelValue}" }
  }
${extra}}
`;
  /** One resource whose input is the state's label; `version` replaces it; `sleep` makes its apply slow. */
  const mainTf = (version: string, sleep = 0) => `variable "label" { type = string }
resource "terraform_data" "r" {
  input            = var.label
  triggers_replace = "${version}"
${sleep ? `  provisioner "local-exec" {\n    command = "sleep ${sleep}"\n  }\n` : ''}}
output "label" { value = terraform_data.r.output }
`;

  async function newRepo(name: string): Promise<GitRepo> {
    const repo = new GitRepo(name);
    repos.push(repo);
    const secret = `secret-${name}-0123456789abcdef`;
    secrets.set(repo, secret);
    const r = await fetch(`${url}/api/repositories`, {
      method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ url: repo.url, tracked_branch: 'main', webhook_secret: secret }),
    });
    assert.equal(r.status, 201, await r.text());
    return repo;
  }

  /** Pushes HEAD to main and delivers the push; resolves with the delivery id (the push workflow runs on). */
  async function push(repo: GitRepo, force = false): Promise<{ deliveryId: string; after: string }> {
    const { before, after } = repo.push('main', force);
    const d = await deliver(url, pushPayload(repo, { before, after, forced: force }), { secret: secrets.get(repo)! });
    assert.equal(d.status, 202, JSON.stringify(d.body));
    return { deliveryId: d.deliveryId, after };
  }
  const pushResult = async (deliveryId: string) => (await s.client.workflow.getHandle(pushWorkflowId(deliveryId)).result()) as PushResult;
  /** The run's result; the queue starts a run a moment after the push asked for it. */
  const runResult = (runId: string) => harnessRunResult<RunProgress>(s.client, runId);

  async function apiGet(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await fetch(`${url}${path}`, { headers: AUTH });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }
  async function apiPost(path: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await fetch(`${url}${path}`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  const liveCode = (repo: GitRepo, path: string) => s.t.db.selectFrom('stack_codes').selectAll()
    .where('repo_url', '=', repo.url).where('repo_path', '=', path).where('status', '<>', 'deregistered').executeTakeFirstOrThrow();
  const stateOf = (codeId: string) => s.t.db.selectFrom('stack_states').selectAll().where('stack_code_id', '=', codeId).executeTakeFirstOrThrow();

  /** The Terraform resources recorded under a state prefix: `terraform_data` inputs, per state object. */
  async function inputsUnder(prefix: string): Promise<string[]> {
    const s3 = await h.s3();
    const client = s3Client(s3);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    const inputs: string[] = [];
    for (const key of (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.tfstate'))) {
      const body = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString();
      const state = JSON.parse(body) as { resources: Array<{ instances: Array<{ attributes: { input?: { value?: unknown } } }> }> };
      for (const r of state.resources) for (const i of r.instances) inputs.push(String(i.attributes.input?.value ?? i.attributes.input));
    }
    client.destroy();
    return inputs;
  }

  before(async () => {
    s = await startStackly('identity');
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
    await s.startExecWorker('exec-identity', { suite: label });
  });
  after(async () => {
    await api?.close();
    await s?.stop();
    for (const r of repos) r.cleanup();
  });

  let repoA: GitRepo;
  let repoB: GitRepo;

  it('two repositories declaring stack "net": two states, two keys derived from their ids, each applies its own resources', async () => {
    repoA = await newRepo('a');
    repoB = await newRepo('b');
    repoA.write({ 'stacks/net/stack.hcl': stackHcl('net', 'from-a'), 'stacks/net/main.tf': mainTf('v1') }).commit('net in a');
    repoB.write({ 'stacks/net/stack.hcl': stackHcl('net', 'from-b'), 'stacks/net/main.tf': mainTf('v1') }).commit('net in b');
    const [pa, pb] = await Promise.all([push(repoA), push(repoB)]);
    const [ra, rb] = await Promise.all([pushResult(pa.deliveryId), pushResult(pb.deliveryId)]);
    assert.deepEqual([ra.registered, rb.registered], [['stacks/net'], ['stacks/net']]);
    const results = await Promise.all([...ra.runsStarted, ...rb.runsStarted].map(runResult));
    assert.deepEqual(results.map((r) => r.phase), ['succeeded', 'succeeded'], results.map((r) => r.error ?? '').join(' | '));

    const [sa, sb] = await Promise.all([liveCode(repoA, 'stacks/net').then((c) => stateOf(c.id)), liveCode(repoB, 'stacks/net').then((c) => stateOf(c.id))]);
    assert.notEqual(sa.id, sb.id);
    assert.equal(sa.tf_state_key, `default/${sa.id}/`);
    assert.equal(sb.tf_state_key, `default/${sb.id}/`);
    assert.deepEqual(await inputsUnder(sa.tf_state_key), ['from-a']);
    assert.deepEqual(await inputsUnder(sb.tf_state_key), ['from-b']);
    // The api shows the key.
    const shown = await apiGet(`/api/states/${sa.id}`);
    assert.equal(shown.body.tf_state_key, sa.tf_state_key);
  });

  it('renaming stacks/net to stacks/network in one push keeps the state (id and key); its run plans no changes', async () => {
    const before = await stateOf((await liveCode(repoA, 'stacks/net')).id);
    repoA.mv('stacks/net', 'stacks/network').commit('rename');
    const p = await push(repoA);
    const r = await pushResult(p.deliveryId);
    assert.deepEqual(r.moved, [{ from: 'stacks/net', to: 'stacks/network' }]);
    assert.deepEqual([r.registered, r.deregistered], [[], []]);
    const after = await stateOf((await liveCode(repoA, 'stacks/network')).id);
    assert.deepEqual([after.id, after.tf_state_key, after.status], [before.id, before.tf_state_key, 'active']);
    assert.equal(r.runsStarted.length, 1);
    const run = await runResult(r.runsStarted[0]!);
    assert.equal(run.phase, 'no_changes', run.error);
    assert.deepEqual(run.review?.counts, { add: 0, change: 0, destroy: 0, replace: 0 });
    const moved = await s.t.db.selectFrom('events').select('type').where('type', '=', 'module_moved').where('stack_code_id', '=', after.stack_code_id).execute();
    assert.equal(moved.length, 1);
  });

  it('five pushes in quick succession: every run succeeds or is superseded, none fails, the state ends at the last commit', async () => {
    // Five commits made first, then each pushed and delivered as it happens, one after another.
    const commits: string[] = [];
    for (let i = 2; i <= 6; i++) commits.push(repoB.write({ 'stacks/net/main.tf': mainTf(`v${i}`) }).commit(`v${i}`));
    const sent: Array<Promise<{ deliveryId: string; after: string }>> = [];
    const t0 = Date.now();
    let before = repoB.remoteHead();
    for (const after of commits) {
      repoB.git('push', '--quiet', 'origin', `${after}:refs/heads/main`);
      // Delivered as GitHub does, right after each push, without waiting for the api's answer.
      sent.push(deliver(url, pushPayload(repoB, { before, after }), { secret: secrets.get(repoB)! }).then((d) => {
        assert.equal(d.status, 202, JSON.stringify(d.body));
        return { deliveryId: d.deliveryId, after };
      }));
      before = after;
    }
    const deliveries = await Promise.all(sent);
    // Within two seconds on a quiet machine; what this test relies on is that the pushes overlap the
    // runs (checked below: older runs are superseded), which holds on a loaded one too.
    process.stdout.write(`      (five pushes delivered in ${Date.now() - t0} ms)\n`);
    const last = deliveries.at(-1)!.after;
    const runIds = (await Promise.all(deliveries.map((d) => pushResult(d.deliveryId)))).flatMap((r) => r.runsStarted);
    assert.ok(runIds.length >= 1);
    const results = await Promise.all(runIds.map(async (id) => ({ id, p: await runResult(id) })));
    for (const { id, p } of results) {
      assert.ok(p.phase === 'succeeded' || p.phase === 'superseded', `${id}: ${p.phase} ${p.error ?? ''}`);
      assert.doesNotMatch(p.error ?? '', /stale/i);
    }
    // How many runs a burst asks for depends on timing (a push handled after a newer one asks for none);
    // whatever ran, nothing applied an older commit after a newer one.
    process.stdout.write(`      (runs: ${results.map((r) => r.p.phase).join(', ')})\n`);
    const lastRun = results.find((r) => r.p.commit === last);
    assert.equal(lastRun?.p.phase, 'succeeded', 'the run of the last commit applied it');
    const code = await liveCode(repoB, 'stacks/net');
    const state = await stateOf(code.id);
    assert.equal(code.current_commit, last);
    assert.equal(state.commit_hash, last, 'the state is deployed at the last commit');
    const failed = await s.t.db.selectFrom('operations').select(['workflow_id', 'error_details']).where('stack_state_id', '=', state.id).where('status', '=', 'failed').execute();
    assert.deepEqual(failed, []);
    // Superseded runs are recorded as such, with the run that took their place.
    for (const { id, p } of results.filter((r) => r.p.phase === 'superseded')) {
      const op = await s.t.db.selectFrom('operations').select(['status', 'metadata']).where('workflow_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(op.status, 'superseded');
      assert.ok(p.supersededBy ?? /newer commit/.test(p.error ?? ''), `${id} names the run that superseded it, or the newer commit: ${p.error}`);
    }
  });

  it('a newer push supersedes a run waiting for approval; the newer run goes on', async () => {
    repoB.write({ 'stacks/net/stack.hcl': stackHcl('net', 'from-b').replace('auto_deploy = true', 'auto_deploy = false'), 'stacks/net/main.tf': mainTf('gated') }).commit('approval needed');
    const [older] = (await pushResult((await push(repoB)).deliveryId)).runsStarted;
    assert.ok(await waitForRunStarted(s.client, older!, 30_000));
    for (let i = 0; ; i++) {
      const p = (await apiGet(`/api/runs/${older}`)).body.progress as RunProgress | undefined;
      if (p?.phase === 'awaiting_approval') break;
      assert.ok(i < 600 && !(p && FINAL_PHASES.includes(p.phase)), `the first run waits for approval (now ${p?.phase} ${p?.error ?? ''})`);
      await new Promise((res) => setTimeout(res, 200));
    }
    repoB.write({ 'stacks/net/stack.hcl': stackHcl('net', 'from-b'), 'stacks/net/main.tf': mainTf('gated-2') }).commit('newer');
    const [newer] = (await pushResult((await push(repoB)).deliveryId)).runsStarted;
    const first = await runResult(older!);
    assert.equal(first.phase, 'superseded');
    assert.equal(first.supersededBy, newer);
    assert.deepEqual(Object.values(first.units).filter((u) => u.status === 'succeeded'), [], 'nothing of the older run applied');
    const second = await runResult(newer!);
    assert.equal(second.phase, 'succeeded', second.error);
    const ev = await s.t.db.selectFrom('events').select(['type', 'payload']).where('type', '=', 'run_superseded').execute();
    assert.ok(ev.some((e) => (e.payload as { workflow_id?: string }).workflow_id === older), 'a run_superseded event');
  });

  it('a run asked for while another applies waits visibly (queued, naming that run), then plans against its result', async () => {
    repoB.write({ 'stacks/net/main.tf': mainTf('slow', 6) }).commit('slow apply');
    const p = await push(repoB);
    const [first] = (await pushResult(p.deliveryId)).runsStarted;
    assert.ok(await waitForRunStarted(s.client, first!, 30_000));
    const firstHandle = s.client.workflow.getHandle(first!);
    for (let i = 0; ; i++) {
      // The push asked the state's queue for the run; the queue starts it a moment later (404 until then).
      const q = await apiGet(`/api/runs/${first}`);
      const phase = (q.body.progress as RunProgress | undefined)?.phase;
      if (phase === 'applying') break;
      assert.ok(i < 600 && (q.status === 200 || q.status === 404), `first run reaches applying (now ${q.status} ${phase} ${JSON.stringify(q.body).slice(0, 300)})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const state = await stateOf((await liveCode(repoB, 'stacks/net')).id);
    const started = await apiPost(`/api/states/${state.id}/runs`);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const second = started.body.run_id as string;
    assert.notEqual(second, first);
    const shown = await apiGet(`/api/runs/${second}`);
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    const progress = shown.body.progress as RunProgress;
    assert.equal(progress.phase, 'queued');
    assert.equal(progress.waitingFor, first);
    assert.match(progress.waitingReason ?? '', new RegExp(`waiting for run ${first}`));
    // The apply in flight was not superseded by the manual run: it finishes; the queued run plans against its result.
    assert.equal(((await firstHandle.result()) as RunProgress).phase, 'succeeded');
    const next = await runResult(second);
    assert.equal(next.phase, 'no_changes', next.error);
    // The queue itself is visible in Temporal, and gone once idle.
    assert.ok(FINAL_PHASES.includes(next.phase));
  });

  it('after a force push drops the deployed commit, the state is flagged and its next run waits for approval despite auto_deploy', async () => {
    const code = await liveCode(repoB, 'stacks/net');
    const state = await stateOf(code.id);
    assert.equal(state.commit_hash, repoB.remoteHead(), 'deployed at the head');
    // Rewrite history: the deployed commit is dropped, the new head changes the stack.
    repoB.git('reset', '--quiet', '--hard', 'HEAD~1');
    repoB.write({ 'stacks/net/main.tf': mainTf('rewritten') }).commit('rewritten');
    const r = await pushResult((await push(repoB, true)).deliveryId);
    assert.deepEqual(r.unreachableStates, [state.id]);
    assert.ok((await apiGet(`/api/states/${state.id}`)).body.commit_unreachable, 'the api flags it');
    const [runId] = r.runsStarted;
    assert.ok(await waitForRunStarted(s.client, runId!, 30_000));
    const handle = s.client.workflow.getHandle(runId!);
    for (let i = 0; ; i++) {
      const p = (await apiGet(`/api/runs/${runId}`)).body.progress as RunProgress | undefined;
      if (p?.phase === 'awaiting_approval') break;
      assert.ok(i < 600 && !(p && FINAL_PHASES.includes(p.phase)), `the run waits for approval (now ${p?.phase} ${p?.error ?? ''})`);
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal((await apiPost(`/api/runs/${runId}/approve`, { comment: 'rewritten on purpose' })).status, 202);
    assert.equal(((await handle.result()) as RunProgress).phase, 'succeeded');
    const after = await stateOf(code.id);
    assert.equal(after.commit_hash, repoB.remoteHead());
    assert.equal((await apiGet(`/api/states/${state.id}`)).body.commit_unreachable, null, 'deployed from the branch again: no longer flagged');
  });

  it('a loose state is destroyed through the api: its destroy review runs, its resources are destroyed, it ends destroyed', async () => {
    repoA.write({ 'stacks/tmp/stack.hcl': stackHcl('tmp', 'tmp-a'), 'stacks/tmp/main.tf': mainTf('t1') }).commit('tmp');
    const r1 = await pushResult((await push(repoA)).deliveryId);
    assert.equal((await runResult(r1.runsStarted[0]!)).phase, 'succeeded');
    const code = await liveCode(repoA, 'stacks/tmp');
    const state = await stateOf(code.id);
    assert.deepEqual(await inputsUnder(state.tf_state_key), ['tmp-a']);

    repoA.rm('stacks/tmp').commit('remove tmp');
    const r2 = await pushResult((await push(repoA)).deliveryId);
    assert.deepEqual(r2.deregistered, ['stacks/tmp']);
    const loose = await s.t.db.selectFrom('stack_states').selectAll().where('id', '=', state.id).executeTakeFirstOrThrow();
    assert.equal(loose.status, 'loose');

    const d = await apiPost(`/api/states/${state.id}/destroy`);
    assert.equal(d.status, 202, JSON.stringify(d.body));
    const handle = s.client.workflow.getHandle(d.body.run_id as string);
    // Destroy runs ask for approval of what they remove.
    for (let i = 0; ; i++) {
      const q = await apiGet(`/api/runs/${handle.workflowId}`);
      const pr = q.body.progress as RunProgress | undefined;
      if (pr?.phase === 'awaiting_approval') {
        assert.deepEqual(pr.review?.changes.map((c) => c.actions), [['delete']]);
        break;
      }
      assert.ok(i < 600 && !(pr && FINAL_PHASES.includes(pr.phase)), `destroy reaches its approval (now ${pr?.phase} ${pr?.error ?? ''})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await apiPost(`/api/runs/${handle.workflowId}/approve`, { comment: 'clean up' })).status, 202);
    const done = (await handle.result()) as RunProgress;
    assert.equal(done.phase, 'succeeded', done.error);
    const row = await s.t.db.selectFrom('stack_states').select('status').where('id', '=', state.id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'destroyed');
    assert.deepEqual(await inputsUnder(state.tf_state_key), [], 'no resources left in its state');
  });
});
