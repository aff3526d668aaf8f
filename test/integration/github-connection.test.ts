/**
 * Connecting a repository to GitHub through the REST API (secrets write-only, stored encrypted) and
 * `pull_request` deliveries at the webhook edge, on the real Postgres and the api (buildApi). Temporal
 * is unreachable here on purpose: what must not need it (forks refused, other actions and branches
 * ignored) does not, and what needs it answers 503 with the delivery kept `received` for GitHub's
 * redelivery. Payloads are GitHub's own examples (@octokit/webhooks-examples), adjusted only in
 * repository URLs/ids, shas and refs, and signed as GitHub signs them.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { createLogger } from '../../common/logger';
import { namespaceClients } from '../../common/temporal';
import { ensureAccount } from '../../db/repos/accounts';
import { listNotifications } from '../../db/repos/github-notifications';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

const SECRET = 'github-connection-webhook-secret-0123';
const box = {
  encrypt: async (p: string) => `test:v1:${Buffer.from(p).toString('base64')}`,
  decrypt: async (c: string) => Buffer.from(c.slice('test:v1:'.length), 'base64').toString(),
};
const KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n';

type Example = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const examples = (require('@octokit/webhooks-examples') as Array<{ name: string; examples: Example[] }>).find((e) => e.name === 'pull_request')!.examples;
const example = (action: string): Example => structuredClone(examples.find((e) => e.action === action)!);

/** A real payload pointed at our repository: URLs, ids, shas and refs only. */
function prPayload(action: string, url: string, o: { head?: string; base?: string; number?: number; fork?: boolean; baseRef?: string } = {}): Example {
  const p = example(action);
  const n = o.number ?? 7;
  p.number = n;
  p.pull_request.number = n;
  for (const r of [p.repository, p.pull_request.base.repo, ...(o.fork ? [] : [p.pull_request.head.repo])]) {
    Object.assign(r, { clone_url: url, html_url: url, git_url: url, ssh_url: url, svn_url: url, url, id: 4242 });
  }
  if (o.fork) Object.assign(p.pull_request.head.repo, { id: 9999, full_name: 'stranger/infra-fork', fork: true });
  p.pull_request.head.sha = o.head ?? '1'.repeat(40);
  p.pull_request.head.ref = 'feature';
  p.pull_request.base.sha = o.base ?? '2'.repeat(40);
  p.pull_request.base.ref = o.baseRef ?? 'main';
  return p;
}

describe('GitHub connection of a repository and pull_request deliveries at the edge (real Postgres)', function () {
  this.timeout(60_000);
  let t: TestDb;
  let app: FastifyInstance;
  let admin: TestPrincipal;
  let viewer: TestPrincipal;

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, who: TestPrincipal, payload?: unknown) =>
    app.inject({ method, url, headers: { ...who.auth, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
  const deliver = (payload: unknown, o: { event?: string; secret?: string; deliveryId?: string } = {}) => {
    const body = JSON.stringify(payload);
    return app.inject({
      method: 'POST', url: '/webhooks/github', payload: body,
      headers: {
        'content-type': 'application/json', 'x-github-event': o.event ?? 'pull_request', 'x-github-delivery': o.deliveryId ?? randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', o.secret ?? SECRET).update(body).digest('hex')}`,
      },
    });
  };
  const register = async (body: Record<string, unknown>) => {
    // Every repository has its own webhook secret (issue 15); deliveries here are signed with it.
    const r = await call('POST', '/api/repositories', admin, { webhook_secret: SECRET, ...body });
    assert.equal(r.statusCode, 201, r.body);
    return r.json() as { id: string; url: string; github: Record<string, unknown> };
  };

  before(async () => {
    t = await createTestDb('github_connection');
    const accountId = (await ensureAccount(t.db, 'default', 'stackly')).id;
    admin = await createPrincipal(t.db, { accountId, login: 'alice', role: 'admin' });
    viewer = await createPrincipal(t.db, { accountId, login: 'vic', role: 'viewer' });
    app = await buildApi({
      db: t.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(Connection.lazy({ address: '127.0.0.1:1' })), platformAccountId: accountId,
      webhookSecret: SECRET, secretBox: box, bodyLimitBytes: 1 << 20, temporalTimeoutMs: 500,
    });
  });
  after(async () => {
    await app?.close();
    await t?.drop();
  });

  it('connects with a token or as a GitHub App: secrets stored encrypted and never shown; bad input named; admins only', async () => {
    const token = 'ghp_supersecrettoken0123456789';
    const r = await register({ url: 'https://github.com/acme/infra.git', github: { auth: { token } } });
    assert.deepEqual(r.github, { connected: true, repository: 'acme/infra', api_url: 'https://api.github.com', allow_fork_prs: false });
    assert.ok(!JSON.stringify(r).includes(token));
    const stored = await t.db.selectFrom('repositories').select('github_auth_enc').where('id', '=', r.id).executeTakeFirstOrThrow();
    assert.ok(stored.github_auth_enc!.startsWith('test:v1:') && !stored.github_auth_enc!.includes(token), 'ciphertext only');
    const shown = await call('GET', `/api/repositories/${r.id}`, viewer);
    assert.ok(!shown.body.includes(token) && !shown.body.includes('private_key'));

    const app1 = await call('PUT', `/api/repositories/${r.id}/github`, admin, { auth: { app_id: 12, private_key: KEY, installation_id: '34' }, api_url: 'https://ghe.example.com/api/v3/', allow_fork_prs: true });
    assert.equal(app1.statusCode, 200, app1.body);
    assert.deepEqual(app1.json().github, { connected: true, repository: 'acme/infra', api_url: 'https://ghe.example.com/api/v3', allow_fork_prs: true });
    assert.ok(!app1.body.includes('PRIVATE KEY'));

    const bad = [
      [{ auth: { app_id: 12, private_key: 'not a key', installation_id: 34 } }, /auth/],
      [{ auth: { token: 'x', extra: 1 } }, /auth/],
      [{ auth: { token: 'x' }, repository: 'no-slash' }, /repository: must be owner\/name/],
      [{ auth: { token: 'x' }, api_url: 'https://user:pw@ghe.example.com' }, /api_url: must not carry credentials/],
    ] as const;
    for (const [body, msg] of bad) {
      const res = await call('PUT', `/api/repositories/${r.id}/github`, admin, body);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error.message, msg);
    }
    const local = await register({ url: 'file:///srv/git/infra.git' });
    const noName = await call('PUT', `/api/repositories/${local.id}/github`, admin, { auth: { token: 'x' } });
    assert.equal(noName.statusCode, 400);
    assert.match(noName.json().error.message, /github\.repository: required/);
    assert.equal((await call('PUT', `/api/repositories/${r.id}/github`, viewer, { auth: { token: 'x' } })).statusCode, 403);
    assert.equal((await call('DELETE', `/api/repositories/${r.id}/github`, viewer)).statusCode, 403);
    const off = await call('DELETE', `/api/repositories/${r.id}/github`, admin);
    assert.equal(off.statusCode, 200);
    assert.equal(off.json().github.connected, false);
    const gone = await t.db.selectFrom('repositories').select('github_auth_enc').where('id', '=', r.id).executeTakeFirstOrThrow();
    assert.equal(gone.github_auth_enc, null);
  });

  it('pull_request deliveries: forks refused by default (said on the pull request), others ignored with their reason, bad ones refused', async () => {
    const url = `file:///srv/git/${randomUUID()}.git`;
    const r = await register({ url, github: { auth: { token: 'ghp_x' }, repository: 'acme/infra' } });

    const fork = await deliver(prPayload('opened', url, { fork: true }));
    assert.equal(fork.statusCode, 202, fork.body);
    assert.equal(fork.json().status, 'ignored');
    assert.match(fork.json().reason, /fork \(stranger\/infra-fork\)/);
    const rows = await listNotifications(t.db, r.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.kind, 'comment');
    assert.match(rows[0]!.body!, /comes from a fork/);
    assert.equal(await t.db.selectFrom('pull_requests').select('number').where('repository_id', '=', r.id).executeTakeFirst(), undefined, 'nothing planned');

    for (const [payload, reason] of [
      [prPayload('labeled', url), /action labeled is not handled/],
      [prPayload('opened', url, { baseRef: 'develop' }), /untracked branch develop/],
    ] as const) {
      const res = await deliver(payload);
      assert.equal(res.statusCode, 202);
      assert.match(res.json().reason, reason);
    }
    const unconnected = await register({ url: `file:///srv/git/${randomUUID()}.git` });
    const res = await deliver(prPayload('opened', unconnected.url));
    assert.match(res.json().reason, /not connected to GitHub/);

    const wrongSig = await deliver(prPayload('opened', url), { secret: 'another-secret-0123456789' });
    assert.equal(wrongSig.statusCode, 401);
    const bad = prPayload('opened', url);
    bad.pull_request.head.sha = 'main';
    const badRes = await deliver(bad);
    assert.equal(badRes.statusCode, 400);
    assert.match(badRes.json().error.message, /pull_request\.head\.sha/);
  });

  it('a pull request to plan while Temporal is down: 503, the delivery stays received for redelivery', async () => {
    const url = `file:///srv/git/${randomUUID()}.git`;
    await register({ url, github: { auth: { token: 'ghp_x' }, repository: 'acme/infra' } });
    const deliveryId = randomUUID();
    const res = await deliver(prPayload('synchronize', url, { number: 9 }), { deliveryId });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json().error.code, 'temporal_unavailable');
    const row = await t.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', deliveryId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'received');
  });
});
