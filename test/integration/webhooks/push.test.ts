/**
 * Push deliveries end to end: a real Git repository made here, signed GitHub push payloads posted to
 * the api, pushWorkflow on a worker against the real Temporal server, the registry in the real
 * Postgres, every payload through the Vault Transit codec. The run and destroy workflows are test
 * stand-ins (see stand-in-workflows.ts): the tests check they were started and with which input.
 */
import assert from 'node:assert/strict';
import { ENCODING_ENCRYPTED } from '../../../common/codec';
import { waitForRunStarted } from '../../../activities/run-requests';
import type { PushResult } from '../../../workflows/push';
import type { StackRunInput } from '../../../workflows/definitions';
import { pushWorkflowId } from '../../../workflows/definitions';
import {
  GitRepo, MAIN_TF, STACK_HCL, ZERO, deliver, getJson, pushPayload, registerRepo, setupEnv, startApi, startWorker,
  type Env, type RunningApi, type RunningWorker,
} from './helpers';

describe('webhooks: push deliveries register stack code and start runs', function () {
  this.timeout(120_000);
  let env: Env;
  let api: RunningApi;
  let worker: RunningWorker;
  let repo: GitRepo;
  const secret = 'per-repository-secret-0123456789';

  before(async () => {
    env = await setupEnv('webhooks_push');
    api = await startApi(env);
    worker = await startWorker(env);
    repo = new GitRepo('push');
    await registerRepo(api, repo.url, { webhook_secret: secret });
  });

  after(async () => {
    await worker?.stop();
    await api?.app.close();
    await env?.stop();
    repo?.cleanup();
  });

  /** Every run a push asked for, in order (ids are `run-<kind>-<state>-<commit12>-<suffix>`). */
  const runsAsked: string[] = [];

  /** Pushes, delivers, waits for the push workflow's result. */
  async function pushAndWait(opts: { branch?: string; force?: boolean } = {}): Promise<{ result: PushResult; before: string; after: string; deliveryId: string }> {
    const { before, after } = repo.push(opts.branch, opts.force);
    const d = await deliver(api.url, pushPayload(repo, { before, after, forced: opts.force ?? false }), { secret });
    assert.equal(d.status, 202, JSON.stringify(d.body));
    assert.equal(d.body.status, 'started');
    const result = await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result() as PushResult;
    runsAsked.push(...result.runsStarted, ...result.destroysStarted);
    return { result, before, after, deliveryId: d.deliveryId };
  }

  async function code(path: string) {
    return env.tdb.db.selectFrom('stack_codes').selectAll().where('repo_url', '=', repo.url).where('repo_path', '=', path)
      .orderBy('created_at', 'desc').executeTakeFirstOrThrow();
  }
  async function states(stackCodeId: string) {
    return env.tdb.db.selectFrom('stack_states').selectAll().where('stack_code_id', '=', stackCodeId).orderBy('name').execute();
  }
  const runsOf = (stateId: string, commit: string, kind: 'deploy' | 'destroy' = 'deploy') =>
    runsAsked.filter((id) => id.startsWith(`run-${kind}-${stateId}-${commit.slice(0, 12)}-`));
  /** The input the state queue started the run of this state and commit with (the stand-in returns it). */
  async function runInput(stateId: string, commit: string, kind: 'deploy' | 'destroy' = 'deploy'): Promise<StackRunInput> {
    const ids = runsOf(stateId, commit, kind);
    assert.equal(ids.length, 1, `one ${kind} run of ${stateId} at ${commit.slice(0, 12)} asked for: ${ids.join(', ')}`);
    // The push asked the state's queue; the queue starts the run a moment later.
    assert.ok(await waitForRunStarted(env.client, ids[0]!, 30_000), `${ids[0]} started by its state's queue`);
    return await env.client.workflow.getHandle(ids[0]!).result() as StackRunInput;
  }
  async function runExists(stateId: string, commit: string): Promise<boolean> {
    return runsOf(stateId, commit).length > 0;
  }

  it('new stack: registers it with its states, fills git_cache, starts a run per state', async () => {
    repo.write({
      'stacks/network/stack.hcl': STACK_HCL('network'),
      'stacks/network/main.tf': MAIN_TF('v1'),
      'policies/window.hcl': 'policy "deployment_window" {}\n',
      'README.md': '# infra\n',
    }).commit('network');
    const { result, after, deliveryId } = await pushAndWait();
    assert.deepEqual(result.registered, ['stacks/network']);
    const c = await code('stacks/network');
    assert.equal(c.status, 'active');
    assert.equal(c.current_commit, after);
    assert.equal(c.name, 'network');
    const ss = await states(c.id);
    assert.deepEqual(ss.map((s) => s.name), ['prod', 'staging']);
    assert.deepEqual(ss[0]!.variables, { region: 'us-west-2', size: 'prod' });
    const cached = await env.tdb.db.selectFrom('git_cache').select(['path', 'content']).where('commit_hash', '=', after).orderBy('path').execute();
    assert.deepEqual(cached.map((r) => r.path), ['policies/window.hcl', 'stacks/network/main.tf', 'stacks/network/stack.hcl']);
    assert.equal(cached[1]!.content.toString(), MAIN_TF('v1'));
    for (const s of ss) {
      const input = await runInput(s.id, after);
      const { queue, ...rest } = input;
      assert.deepEqual(rest, {
        stateId: s.id, stackCodeId: c.id, commit: after, kind: 'deploy', generation: 1,
        trigger: { type: 'push', by: `github:${deliveryId}`, deliveryId, author: 'ada', pusher: 'ada' },
      });
      // Started by the state's queue, one run at a time per state.
      assert.equal(queue?.workflowId, `state-${s.id}`);
    }
    const ev = await env.tdb.db.selectFrom('events').select('type').where('stack_code_id', '=', c.id).execute();
    assert.deepEqual(ev.map((e) => e.type), ['module_registered']);
    const delivery = await env.tdb.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', deliveryId).executeTakeFirstOrThrow();
    assert.equal(delivery.status, 'started');
    assert.equal(delivery.workflow_id, pushWorkflowId(deliveryId));

    // What Temporal stores is ciphertext: every payload of the push workflow's history is encrypted by
    // the Vault codec, and neither the repository URL nor a stack path appears in the clear.
    const history = await env.client.workflow.getHandle(pushWorkflowId(deliveryId)).fetchHistory();
    const payloads: Array<{ metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }> = [];
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
      if (Array.isArray(v)) { v.forEach(walk); return; }
      const o = v as Record<string, unknown>;
      // The SDK's own patch markers (patched()) carry the patch id as JSON, written by the SDK core
      // without the codec: a constant of our code, never data of a run. Everything else is encrypted.
      if ((o.markerRecordedEventAttributes as { markerName?: string } | undefined)?.markerName === 'core_patch') {
        const details = (o.markerRecordedEventAttributes as { details?: Record<string, { payloads?: Array<{ data?: Uint8Array }> }> }).details ?? {};
        for (const p of Object.values(details).flatMap((d) => d.payloads ?? [])) {
          const marker = JSON.parse(Buffer.from(p.data ?? []).toString()) as Record<string, unknown>;
          assert.deepEqual(Object.keys(marker).sort(), ['deprecated', 'id'], 'a patch marker holds only a patch id');
        }
        return;
      }
      // Search attributes are plaintext by design (Temporal indexes them); the SDK records the patch
      // ids there (TemporalChangeVersion). The push workflow sets no other.
      const upsert = o.upsertWorkflowSearchAttributesEventAttributes as { searchAttributes?: { indexedFields?: Record<string, unknown> } } | undefined;
      if (upsert) {
        assert.deepEqual(Object.keys(upsert.searchAttributes?.indexedFields ?? {}), ['TemporalChangeVersion']);
        return;
      }
      if (o.metadata && typeof o.metadata === 'object' && 'data' in o) payloads.push(o as (typeof payloads)[number]);
      else Object.values(o).forEach(walk);
    };
    walk(history.events);
    assert.ok(payloads.length > 10, `payloads found: ${payloads.length}`);
    for (const p of payloads) {
      assert.equal(Buffer.from(p.metadata!.encoding!).toString(), ENCODING_ENCRYPTED);
      const clear = Buffer.from(p.data ?? []).toString('latin1');
      assert.ok(!clear.includes('stacks/network') && !clear.includes(repo.origin), 'no plaintext in history');
    }
  });

  it('two stacks in one push: both registered, runs for both, the untouched stack left alone', async () => {
    const network = await code('stacks/network');
    repo.write({
      'stacks/app/stack.hcl': STACK_HCL('app', { states: ['prod'] }),
      'stacks/app/main.tf': MAIN_TF('app'),
      'stacks/db/stack.hcl': STACK_HCL('db', { onDelete: 'destroy', states: ['prod'] }),
      'stacks/db/main.tf': MAIN_TF('db'),
    }).commit('app and db');
    const { result, after } = await pushAndWait();
    assert.deepEqual(result.registered.sort(), ['stacks/app', 'stacks/db']);
    assert.deepEqual(result.updated, []);
    for (const p of ['stacks/app', 'stacks/db']) {
      const c = await code(p);
      const [s] = await states(c.id);
      assert.equal((await runInput(s!.id, after)).stackCodeId, c.id);
    }
    assert.notEqual((await code('stacks/network')).current_commit, after, 'network not touched');
    assert.equal((await code('stacks/network')).updated_at.getTime(), network.updated_at.getTime());
    for (const s of await states(network.id)) assert.equal(await runExists(s.id, after), false);
  });

  it('changed stack: updated to the new commit, a run per state at that commit', async () => {
    repo.write({ 'stacks/network/main.tf': MAIN_TF('v2') }).commit('network v2');
    const { result, after } = await pushAndWait();
    assert.deepEqual(result.updated, ['stacks/network']);
    assert.deepEqual(result.registered, []);
    const c = await code('stacks/network');
    assert.equal(c.current_commit, after);
    for (const s of await states(c.id)) assert.equal((await runInput(s.id, after)).commit, after);
    const app = await code('stacks/app');
    for (const s of await states(app.id)) assert.equal(await runExists(s.id, after), false, 'app was not touched');
  });

  it('a change under policies/ touches every stack of the repository', async () => {
    repo.write({ 'policies/window.hcl': 'policy "deployment_window" { }\n# changed\n' }).commit('policy');
    const { result } = await pushAndWait();
    assert.deepEqual(result.updated.sort(), ['stacks/app', 'stacks/db', 'stacks/network']);
  });

  it('invalid stack.hcl: that stack code is invalid with the error, nothing else changes', async () => {
    const before = await code('stacks/app');
    const beforeStates = await states(before.id);
    repo.write({ 'stacks/app/stack.hcl': 'stack "app" {\n  on_delete = "explode"\n  state "prod" {}\n}\n', 'stacks/network/main.tf': MAIN_TF('v3') })
      .commit('break app, change network');
    const { result, after } = await pushAndWait();
    assert.deepEqual(result.invalid, ['stacks/app']);
    assert.deepEqual(result.updated, ['stacks/network'], 'the other stack of the push is handled normally');
    const app = await code('stacks/app');
    assert.equal(app.id, before.id);
    assert.equal(app.status, 'invalid');
    assert.equal(app.current_commit, before.current_commit, 'still at its last valid commit');
    const err = app.error as { file: string; line: number; field: string; message: string; commit: string };
    assert.equal(err.file, 'stacks/app/stack.hcl');
    assert.equal(err.line, 2);
    assert.match(err.field, /on_delete/);
    assert.match(err.message, /loose|destroy/);
    assert.equal(err.commit, after);
    assert.deepEqual(await states(app.id), beforeStates, 'states untouched');
    for (const s of beforeStates) assert.equal(await runExists(s.id, after), false);
    const ev = await env.tdb.db.selectFrom('events').select('type').where('stack_code_id', '=', app.id).orderBy('id').execute();
    assert.equal(ev.at(-1)!.type, 'module_invalid');
    // The API shows it.
    const shown = await getJson(api, `/api/stack-codes/${app.id}`);
    assert.equal(shown.body.status, 'invalid');
    assert.equal(shown.body.error.line, 2);
  });

  it('deleted stack with on_delete = "destroy": de-registered, a destroy started per state', async () => {
    const db = await code('stacks/db');
    const [s] = await states(db.id);
    repo.rm('stacks/db').commit('remove db');
    const { result, deliveryId } = await pushAndWait();
    assert.deepEqual(result.deregistered, ['stacks/db']);
    assert.equal((await code('stacks/db')).status, 'deregistered');
    const input = await runInput(s!.id, s!.commit_hash, 'destroy');
    assert.equal(input.kind, 'destroy');
    assert.equal(input.trigger.deliveryId, deliveryId);
    const row = await env.tdb.db.selectFrom('stack_states').selectAll().where('id', '=', s!.id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'destroying');
  });

  it('moved stack: the stack code and its states follow the directory (same ids, same state keys), module_moved', async () => {
    const old = await code('stacks/network');
    const oldStates = await states(old.id);
    repo.mv('stacks/network', 'live/network').commit('move network');
    const { result, after } = await pushAndWait();
    assert.deepEqual(result.moved, [{ from: 'stacks/network', to: 'live/network' }]);
    assert.deepEqual(result.deregistered, []);
    assert.deepEqual(result.registered, []);
    const moved = await code('live/network');
    assert.equal(moved.id, old.id, 'the same stack code');
    assert.equal(moved.status, 'active');
    assert.equal(moved.current_commit, after);
    assert.equal(await env.tdb.db.selectFrom('stack_codes').select('id').where('repo_path', '=', 'stacks/network').executeTakeFirst(), undefined);
    const now = await states(moved.id);
    assert.deepEqual(now.map((s) => [s.id, s.tf_state_key, s.status]), oldStates.map((s) => [s.id, s.tf_state_key, 'active']));
    for (const s of now) assert.equal((await runInput(s.id, after)).stackCodeId, moved.id);
    const ev = await env.tdb.db.selectFrom('events').select(['type', 'payload']).where('stack_code_id', '=', moved.id).where('type', '=', 'module_moved').execute();
    assert.equal(ev.length, 1);
    assert.deepEqual((ev[0]!.payload as { from_path: string; to_path: string }).from_path, 'stacks/network');
  });

  it('force push: states whose deployed commit is gone are marked, history_rewritten recorded, shown by the API', async () => {
    const moved = await code('live/network');
    const [prod, staging] = await states(moved.id);
    // A deploy of prod at a commit that the force push will drop (the run workflow records this).
    repo.write({ 'live/network/main.tf': MAIN_TF('v4') });
    const dropped = repo.commit('network v4');
    await pushAndWait();
    await env.tdb.db.updateTable('stack_states').set({ commit_hash: dropped }).where('id', '=', prod!.id).execute();
    repo.git('reset', '--quiet', '--hard', 'HEAD~1');
    repo.write({ 'README.md': '# rewritten\n' }).commit('rewrite history');
    const { result, before } = await pushAndWait({ force: true });
    assert.equal(before, dropped);
    assert.deepEqual(result.unreachableStates, [prod!.id]);
    const shown = await getJson(api, `/api/states/${prod!.id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.commit_unreachable.commit, dropped);
    const other = await getJson(api, `/api/states/${staging!.id}`);
    assert.equal(other.body.commit_unreachable, null);
    const ev = await getJson(api, `/api/events?state_id=${prod!.id}&type=history_rewritten`);
    assert.equal(ev.body.items.length, 1);
  });

  it('push to an untracked branch: 202, recorded as ignored, no workflow', async () => {
    repo.git('checkout', '--quiet', '-b', 'feature');
    repo.write({ 'live/network/main.tf': MAIN_TF('feature') });
    repo.commit('feature work');
    const { before, after } = repo.push('feature');
    assert.equal(before, ZERO);
    const d = await deliver(api.url, pushPayload(repo, { ref: 'refs/heads/feature', before, after }), { secret });
    assert.equal(d.status, 202);
    assert.equal(d.body.status, 'ignored');
    const row = await env.tdb.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', d.deliveryId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'ignored');
    assert.match(row.reason!, /untracked/);
    await assert.rejects(env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).describe());
    repo.git('checkout', '--quiet', 'main');
  });

  it('the same delivery posted twice, and five times concurrently: one push workflow, one set of runs', async () => {
    repo.write({ 'live/network/main.tf': MAIN_TF('v5') });
    repo.commit('network v5');
    const { before, after } = repo.push();
    const payload = pushPayload(repo, { before, after });
    const first = await deliver(api.url, payload, { secret });
    const second = await deliver(api.url, payload, { secret, deliveryId: first.deliveryId });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.duplicate, true);

    // A second delivery of the same push (another body: the same body under a new id is a replay, refused).
    const concurrentId = `concurrent-${Date.now()}`;
    const again = { ...payload, hook: { id: 2 } };
    const many = await Promise.all(Array.from({ length: 5 }, () => deliver(api.url, again, { secret, deliveryId: concurrentId })));
    assert.deepEqual(many.map((m) => m.status), [202, 202, 202, 202, 202]);
    assert.equal(many.filter((m) => m.body.duplicate === false).length, 1, 'one of them did the work');

    for (const id of [first.deliveryId, concurrentId]) {
      await env.client.workflow.getHandle(pushWorkflowId(id)).result();
      let count = 0;
      for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${pushWorkflowId(id)}'` })) count++;
      assert.equal(count, 1, `one workflow execution for ${id}`);
    }
    const moved = await code('live/network');
    for (const s of await states(moved.id)) {
      assert.equal(runsOf(s.id, after).length, 0, 'no push result counted yet');
    }
    for (const id of [first.deliveryId, concurrentId]) {
      const r = await env.client.workflow.getHandle(pushWorkflowId(id)).result() as PushResult;
      runsAsked.push(...r.runsStarted);
    }
    for (const s of await states(moved.id)) {
      // The first delivery registered the commit and asked for its runs; the second found it registered.
      assert.equal(runsOf(s.id, after).length, 1, 'one run per state for the commit');
    }
  });

  it('pushes handled out of order or skipped converge on the newest commit, never move a stack back', async () => {
    const deliverAndWait = async (p: { before: string; after: string }) => {
      const d = await deliver(api.url, pushPayload(repo, p), { secret });
      assert.equal(d.status, 202, JSON.stringify(d.body));
      return await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result() as PushResult;
    };
    // A temporary stack, registered.
    repo.write({ 'stacks/tmp/stack.hcl': STACK_HCL('tmp', { states: ['prod'] }), 'stacks/tmp/main.tf': MAIN_TF('t1') }).commit('tmp');
    await pushAndWait();
    const tmp = await code('stacks/tmp');

    // A changes network and tmp, B removes tmp and touches only the README: B is delivered first.
    repo.write({ 'live/network/main.tf': MAIN_TF('ooo'), 'stacks/tmp/main.tf': MAIN_TF('t2') });
    const a = repo.commit('A');
    const pushA = repo.push();
    repo.rm('stacks/tmp').write({ 'README.md': '# B\n' });
    repo.commit('B');
    const pushB = repo.push();
    assert.equal(pushB.before, a);

    const rb = await deliverAndWait(pushB);
    assert.deepEqual(rb.deregistered, ['stacks/tmp']);
    // B's own diff does not touch network, but the registry's commit of network is older than A: updated.
    assert.deepEqual(rb.updated, ['live/network']);
    assert.equal((await code('live/network')).current_commit, pushB.after);

    // A arrives late: older than what the registry has for network (and for the removed tmp).
    const ra = await deliverAndWait(pushA);
    assert.deepEqual(ra.updated, []);
    assert.deepEqual(ra.registered, [], 'a late push does not bring a removed stack back');
    assert.deepEqual(ra.superseded.sort(), ['live/network', 'stacks/tmp']);
    assert.deepEqual(ra.runsStarted, []);
    assert.equal((await code('live/network')).current_commit, pushB.after, 'never moved back');
    assert.equal((await code('stacks/tmp')).id, tmp.id);
    assert.equal((await code('stacks/tmp')).status, 'deregistered');
    const live = await env.tdb.db.selectFrom('stack_codes').select('id').where('repo_path', '=', 'stacks/tmp').where('status', '<>', 'deregistered').execute();
    assert.deepEqual(live, []);

    // Concurrent: three pushes changing network, delivered all at once in reverse order.
    const pushes: Array<{ before: string; after: string }> = [];
    for (const tag of ['c1', 'c2', 'c3']) {
      repo.write({ 'live/network/main.tf': MAIN_TF(tag) }).commit(tag);
      pushes.push(repo.push());
    }
    await Promise.all(pushes.reverse().map((p) => deliverAndWait(p)));
    assert.equal((await code('live/network')).current_commit, pushes[0]!.after, 'at the newest commit');
  });
});
