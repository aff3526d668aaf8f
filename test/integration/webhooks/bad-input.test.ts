/**
 * Bad input at the webhook edge: fails closed with the right status, records what it should, and
 * never takes the server down (a valid request afterwards still succeeds). Also: Temporal
 * unreachable → 503 with the delivery kept `received`, and a redelivery then starts it.
 */
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { createVaultKeyring } from '../../../common/codec';
import { dataConverter } from '../../../common/temporal';
import { pushWorkflowId } from '../../../workflows/definitions';
import {
  GLOBAL_SECRET, GitRepo, MAIN_TF, STACK_HCL, deliver, pushPayload, registerRepo, setupEnv, sign, startApi,
  type Env, type RunningApi,
} from './helpers';

describe('webhooks: bad input', function () {
  this.timeout(60_000);
  let env: Env;
  let api: RunningApi;
  let repo: GitRepo;
  const secret = 'bad-input-repo-secret-0123456789';
  let payload: ReturnType<typeof pushPayload>;

  before(async () => {
    env = await setupEnv('webhooks_bad');
    api = await startApi(env, { bodyLimitBytes: 64 * 1024, allowGlobalWebhookSecret: true });
    repo = new GitRepo('bad');
    await registerRepo(api, repo.url, { webhook_secret: secret });
    repo.write({ 'stacks/a/stack.hcl': STACK_HCL('a'), 'stacks/a/main.tf': MAIN_TF('a') }).commit('a');
    const { before, after } = repo.push();
    payload = pushPayload(repo, { before, after });
  });

  after(async () => {
    await api?.app.close();
    await env?.stop();
    repo?.cleanup();
  });

  async function deliveryRow(id: string) {
    return env.tdb.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', id).executeTakeFirst();
  }

  it('missing signature → 401, nothing recorded', async () => {
    const d = await deliver(api.url, payload, { secret: null });
    assert.equal(d.status, 401);
    assert.equal((d.body.error as { code: string }).code, 'missing_signature');
    assert.equal(await deliveryRow(d.deliveryId), undefined);
  });

  it('wrong signature → 401; the global secret does not stand in for a repository secret', async () => {
    for (const s of ['not-the-secret-at-all-0123456789', GLOBAL_SECRET]) {
      const d = await deliver(api.url, payload, { secret: s });
      assert.equal(d.status, 401, s);
      assert.equal((d.body.error as { code: string }).code, 'invalid_signature');
      assert.equal(await deliveryRow(d.deliveryId), undefined);
    }
    // A signature over a different body.
    const body = JSON.stringify(payload);
    const res = await fetch(`${api.url}/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'tampered', 'x-hub-signature-256': sign(secret, body) },
      body: body.replace('"forced":false', '"forced":true'),
    });
    assert.equal(res.status, 401);
  });

  it('malformed JSON → 400 (signed with the global secret: no repository can be named)', async () => {
    const d = await deliver(api.url, undefined, { raw: '{"ref": "refs/heads/main", ', secret: GLOBAL_SECRET });
    assert.equal(d.status, 400);
    assert.equal((d.body.error as { code: string }).code, 'malformed_json');
  });

  it('malformed JSON with a wrong signature → 401 (no parsing feedback to strangers)', async () => {
    const d = await deliver(api.url, undefined, { raw: '{not json', secret: 'wrong-secret-0123456789' });
    assert.equal(d.status, 401);
  });

  it('body over the size limit → 413', async () => {
    const big = { ...payload, padding: 'x'.repeat(100 * 1024) };
    const d = await deliver(api.url, big, { secret });
    assert.equal(d.status, 413);
    assert.equal((d.body.error as { code: string }).code, 'payload_too_large');
  });

  it('push for an unknown repository → 202 recorded as ignored', async () => {
    const other = pushPayload(repo, { before: payload.before, after: payload.after, cloneUrl: 'https://github.com/acme/unknown.git' });
    const d = await deliver(api.url, other, { secret: GLOBAL_SECRET });
    assert.equal(d.status, 202);
    assert.equal(d.body.status, 'ignored');
    const row = await deliveryRow(d.deliveryId);
    assert.equal(row?.status, 'ignored');
    assert.equal(row?.reason, 'unknown repository');
  });

  it('other events → 202 recorded as ignored; ping → 200', async () => {
    const issue = await deliver(api.url, { action: 'opened', repository: payload.repository }, { event: 'issues', secret });
    assert.equal(issue.status, 202);
    assert.equal((await deliveryRow(issue.deliveryId))?.status, 'ignored');
    const ping = await deliver(api.url, { zen: 'Keep it logically awesome.', hook_id: 1 }, { event: 'ping' });
    assert.equal(ping.status, 200);
  });

  it('a push payload missing fields → 400 naming the field', async () => {
    const { after: _after, ...broken } = payload;
    const d = await deliver(api.url, broken, { secret });
    assert.equal(d.status, 400);
    assert.match((d.body.error as { message: string }).message, /after/);
  });

  it('Temporal unreachable → 503, delivery stays received; a redelivery starts it', async () => {
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1' });
    const dead = await startApi(env, { client: new Client({ connection: deadConnection, namespace: env.namespace, dataConverter: env.dataConverter }) });
    try {
      const d = await deliver(dead.url, payload, { secret });
      assert.equal(d.status, 503);
      assert.equal((d.body.error as { code: string }).code, 'temporal_unavailable');
      assert.equal((await deliveryRow(d.deliveryId))?.status, 'received');
      // GitHub's "redeliver" reaches a healthy api: the workflow is started, not treated as a duplicate.
      const again = await deliver(api.url, payload, { secret, deliveryId: d.deliveryId });
      assert.equal(again.status, 202);
      assert.equal(again.body.status, 'started');
      assert.equal((await deliveryRow(d.deliveryId))?.status, 'started');
      const desc = await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).describe();
      assert.equal(desc.type, 'pushWorkflow');
      await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).terminate('test: no worker in this suite');
    } finally {
      await dead.app.close();
      await deadConnection.close().catch(() => undefined);
    }
  });

  it('Vault has no key for the namespace → 503 codec_unavailable, nothing started, delivery stays received', async () => {
    const keyring = createVaultKeyring({ vaultAddr: env.vault.addr, vaultToken: env.vault.token });
    const client = new Client({ connection: env.connection, namespace: env.namespace, dataConverter: dataConverter(keyring.codec('no-key-for-this-namespace')) });
    const broken = await startApi(env, { client });
    try {
      // Another body than the test above's (the same body under a new delivery id is a replay, refused).
      const d = await deliver(broken.url, { ...payload, hook: { id: 3 } }, { secret });
      assert.equal(d.status, 503, JSON.stringify(d.body));
      assert.equal((d.body.error as { code: string }).code, 'codec_unavailable');
      assert.equal((await deliveryRow(d.deliveryId))?.status, 'received');
      await assert.rejects(env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).describe());
    } finally {
      await broken.app.close();
    }
  });

  it('the server is still up: a valid delivery succeeds, REST needs a token', async () => {
    const ping = await deliver(api.url, { zen: 'still here' }, { event: 'ping' });
    assert.equal(ping.status, 200);
    const noToken = await fetch(`${api.url}/api/repositories`);
    assert.equal(noToken.status, 401);
    assert.deepEqual(Object.keys((await noToken.json()) as object), ['error']);
    const badToken = await fetch(`${api.url}/api/repositories`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(badToken.status, 401);
  });
});
