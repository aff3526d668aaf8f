/**
 * The REST API over a registry filled by real pushes: repositories (secrets never returned), stack
 * codes, states, operations, events (paginated), re-associating and destroying loose states,
 * triggering a run by hand, the OpenAPI description, the error shape.
 */
import assert from 'node:assert/strict';
import { repositoryCredentialsResolver } from '../../../common/secret-box';
import { pushWorkflowId, stackRunWorkflowId, type StackRunInput } from '../../../workflows/definitions';
import {
  GitRepo, MAIN_TF, STACK_HCL, deliver, getJson, postJson, pushPayload, registerRepo, setupEnv, startApi, startWorker,
  type Env, type RunningApi, type RunningWorker,
} from './helpers';

describe('api: REST routes', function () {
  this.timeout(120_000);
  let env: Env;
  let api: RunningApi;
  let worker: RunningWorker;
  let repo: GitRepo;

  async function pushAndWait(): Promise<string> {
    const { before, after } = repo.push();
    const d = await deliver(api.url, pushPayload(repo, { before, after }));
    assert.equal(d.status, 202);
    await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result();
    return after;
  }

  before(async () => {
    env = await setupEnv('api_rest');
    api = await startApi(env, { allowGlobalWebhookSecret: true });
    worker = await startWorker(env);
    repo = new GitRepo('rest');
    await registerRepo(api, repo.url);
    await registerRepo(api, 'https://github.com/acme/other.git', { webhook_secret: 'other-repo-secret-0123456789', credentials: { token: 'ghp_secret' } });
    repo.write({
      'stacks/a/stack.hcl': STACK_HCL('a', { states: ['prod', 'staging'] }), 'stacks/a/main.tf': MAIN_TF('a'),
      'stacks/b/stack.hcl': STACK_HCL('b', { states: ['blue'] }), 'stacks/b/main.tf': MAIN_TF('b'),
    }).commit('a and b');
    await pushAndWait();
    repo.rm('stacks/a').commit('remove a');
    await pushAndWait();
  });

  after(async () => {
    await worker?.stop();
    await api?.app.close();
    await env?.stop();
    repo?.cleanup();
  });

  it('lists repositories page by page and never returns secrets', async () => {
    const p1 = await getJson(api, '/api/repositories?limit=1');
    assert.equal(p1.status, 200);
    assert.equal(p1.body.items.length, 1);
    assert.ok(p1.body.next_cursor);
    const p2 = await getJson(api, `/api/repositories?limit=1&cursor=${p1.body.next_cursor}`);
    assert.equal(p2.body.items.length, 1);
    assert.equal(p2.body.next_cursor, null);
    const all = [...p1.body.items, ...p2.body.items];
    const other = all.find((r: { url: string }) => r.url.includes('acme/other'));
    assert.equal(other.has_webhook_secret, true);
    assert.equal(other.has_credentials, true);
    const text = JSON.stringify(all);
    assert.ok(!text.includes('other-repo-secret') && !text.includes('ghp_secret') && !text.includes('vault:v'), 'no secret or ciphertext');
    // At rest: Vault Transit ciphertext only, which the real Vault decrypts back.
    const row = await env.tdb.db.selectFrom('repositories').selectAll().where('id', '=', other.id).executeTakeFirstOrThrow();
    assert.match(row.webhook_secret_enc!, /^vault:v\d+:/);
    assert.match(row.credentials_enc!, /^vault:v\d+:/);
    assert.equal(await env.secretBox.decrypt(row.webhook_secret_enc!), 'other-repo-secret-0123456789');
    assert.deepEqual(await repositoryCredentialsResolver(env.tdb.db, env.secretBox)(other.id), { token: 'ghp_secret' });
    assert.equal((await getJson(api, `/api/repositories/${other.id}`)).body.id, other.id);
  });

  it('validates input: bad cursor, bad limit, bad body, unknown ids → JSON errors', async () => {
    assert.deepEqual((await getJson(api, '/api/states?cursor=nonsense')).body, { error: { code: 'invalid_cursor', message: 'invalid cursor' } });
    assert.equal((await getJson(api, '/api/states?limit=0')).status, 400);
    const bad = await postJson(api, '/api/repositories', { url: 'not a url' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^url:/);
    const leaky = await postJson(api, '/api/repositories', { url: 'https://x-access-token:ghp_leak@github.com/acme/leak.git' });
    assert.equal(leaky.status, 400);
    assert.match(leaky.body.error.message, /^url: must not carry credentials/);
    assert.ok(!JSON.stringify(leaky.body).includes('ghp_leak'));
    const dup = await postJson(api, '/api/repositories', { url: repo.url });
    assert.equal(dup.status, 409);
    for (const p of ['/api/states/00000000-0000-0000-0000-000000000000', '/api/stack-codes/x', '/api/operations/x', '/api/events/99999', '/api/nope']) {
      const r = await getJson(api, p);
      assert.equal(r.status, 404, p);
      assert.equal(r.body.error.code, 'not_found');
    }
  });

  it('shows stack codes with their states, filters by status', async () => {
    const active = await getJson(api, '/api/stack-codes?status=active');
    assert.deepEqual(active.body.items.map((c: { repo_path: string }) => c.repo_path), ['stacks/b']);
    const gone = await getJson(api, '/api/stack-codes?status=deregistered');
    assert.deepEqual(gone.body.items.map((c: { repo_path: string }) => c.repo_path), ['stacks/a']);
    const b = await getJson(api, `/api/stack-codes/${active.body.items[0].id}`);
    assert.deepEqual(b.body.states.map((s: { name: string }) => s.name), ['blue']);
    assert.deepEqual(b.body.states[0].variable_names, ['region', 'size']);
    assert.equal(b.body.states[0].variables, undefined, 'variable values are not shown');
  });

  it('re-associates a loose state with another stack code', async () => {
    const loose = await getJson(api, '/api/states?status=loose');
    assert.deepEqual(loose.body.items.map((s: { name: string }) => s.name).sort(), ['prod', 'staging']);
    const prod = loose.body.items.find((s: { name: string }) => s.name === 'prod');
    const b = (await getJson(api, '/api/stack-codes?status=active')).body.items[0];
    const r = await postJson(api, `/api/states/${prod.id}/reassociate`, { stack_code_id: b.id });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'active');
    assert.equal(r.body.stack_code_id, b.id);
    const again = await postJson(api, `/api/states/${prod.id}/reassociate`, { stack_code_id: b.id });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'state_not_loose');
  });

  it('destroys a loose state by hand: queues a destroy run of its own on the state\'s queue', async () => {
    const staging = (await getJson(api, '/api/states?status=loose')).body.items[0];
    const r = await postJson(api, `/api/states/${staging.id}/destroy`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.run_id, r.body.workflow_id);
    assert.match(r.body.run_id, new RegExp(`^${stackRunWorkflowId(staging.id, staging.commit_hash, 'destroy')}-[0-9a-f]{12}$`));
    const input = await env.client.workflow.getHandle(r.body.workflow_id).result() as StackRunInput;
    assert.equal(input.kind, 'destroy');
    assert.deepEqual(input.trigger, { type: 'cleanup', by: 'alice', author: 'alice' });
    assert.equal((await getJson(api, `/api/states/${staging.id}`)).body.status, 'destroying');
  });

  it('triggers a run by hand', async () => {
    const b = (await getJson(api, '/api/stack-codes?status=active')).body.items[0];
    const blue = (await getJson(api, `/api/stack-codes/${b.id}`)).body.states.find((s: { name: string }) => s.name === 'blue');
    // The push's own run for this commit finished (stand-in); a manual run at the same commit may start again.
    const r = await postJson(api, `/api/states/${blue.id}/runs`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const input = await env.client.workflow.getHandle(r.body.workflow_id).result() as StackRunInput;
    assert.deepEqual(input.trigger, { type: 'manual', by: 'alice', author: 'alice' });
    assert.equal(input.commit, b.current_commit);
  });

  it('lists operations and events', async () => {
    const state = (await getJson(api, '/api/states?status=active')).body.items[0];
    const op = await env.tdb.db.insertInto('operations').values({
      stack_state_id: state.id, type: 'plan', status: 'succeeded', triggered_by: 'alice', workflow_id: 'wf-op-1', to_commit: state.commit_hash,
    }).returning('id').executeTakeFirstOrThrow();
    const ops = await getJson(api, `/api/operations?state_id=${state.id}`);
    assert.deepEqual(ops.body.items.map((o: { id: string }) => o.id), [op.id]);
    assert.equal((await getJson(api, `/api/operations/${op.id}`)).body.workflow_id, 'wf-op-1');
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { body: { items: Array<{ id: string; type: string }>; next_cursor: string | null } } = await getJson(api, `/api/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((e) => e.id));
      cursor = page.body.next_cursor;
    }
    const total = await env.tdb.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    assert.equal(seen.length, Number(total.n));
    assert.equal(new Set(seen).size, seen.length, 'no event twice across pages');
    const one = await getJson(api, `/api/events/${seen[0]}`);
    assert.equal(one.body.id, seen[0]);
  });

  it('serves the OpenAPI description without auth', async () => {
    const res = await fetch(`${api.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/webhooks/github', '/api/repositories', '/api/stack-codes/{id}', '/api/states/{id}/reassociate', '/api/states/{id}/destroy', '/api/states/{id}/runs', '/api/operations', '/api/events']) {
      assert.ok(doc.paths[p], p);
    }
  });
});
