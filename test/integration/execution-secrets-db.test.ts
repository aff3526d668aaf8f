/**
 * Issue 15 against real Postgres (no Temporal, no tofu): secret variables through the api are
 * write-only (no answer, event or row carries a value), validated by name and size, admin-only to
 * set, sealed bound to their row; worker pools bound by admins keep routing and pooled workers to
 * them; hook permissions are read per run and fail closed.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { createLogger } from '../../common/logger';
import type { SecretBox } from '../../common/secret-box';
import { openSecret } from '../../common/secret-variables';
import { stateKeyPrefix } from '../../common/state-keys';
import { namespaceClients } from '../../common/temporal';
import { ensureAccount } from '../../db/repos/accounts';
import { secretsOfState } from '../../db/repos/secret-variables';
import { registerWorker } from '../../db/repos/workers';
import { hookPermissionsFromDb } from '../../activities/hooks';
import { createPoolGuard } from '../../activities/pools';
import { createRoutingActivities } from '../../activities/routing';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

/** A real cipher per key name (AES-GCM), standing in for Vault Transit: ciphertext never contains the plaintext. */
function fakeBoxes(): { boxFor: (key: string) => SecretBox; keysUsed: string[] } {
  const keys = new Map<string, Buffer>();
  const keysUsed: string[] = [];
  const k = (name: string) => { if (!keys.has(name)) keys.set(name, randomBytes(32)); return keys.get(name)!; };
  return {
    keysUsed,
    boxFor: (name) => ({
      async encrypt(plain) {
        keysUsed.push(name);
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', k(name), iv);
        const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
        return `fake:${name}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
      },
      async decrypt(text) {
        const [, key, b64] = text.split(':');
        if (key !== name) throw new Error('wrong key');
        const raw = Buffer.from(b64!, 'base64');
        const d = createDecipheriv('aes-256-gcm', k(name), raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      },
    }),
  };
}

describe('issue 15 against Postgres: secret variables, worker pools, hook permissions', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let connection: Connection;
  let admin: TestPrincipal;
  let operator: TestPrincipal;
  let viewer: TestPrincipal;
  let otherAdmin: TestPrincipal;
  let acmeId: string;
  let repoId: string;
  let codeId: string;
  let stateId: string;
  const boxes = fakeBoxes();
  const SECRET = 'p4ss-w0rd-that-must-never-show-9f2c';

  const call = (method: string, url: string, p: TestPrincipal, payload?: unknown) =>
    app.inject({ method: method as 'GET', url, headers: p.auth, ...(payload !== undefined ? { payload: payload as object } : {}) });

  before(async () => {
    tdb = await createTestDb('exec_secrets');
    const acme = await ensureAccount(tdb.db, 'acme', 'stackly');
    acmeId = acme.id;
    const beta = await ensureAccount(tdb.db, 'beta', 'stackly-beta');
    admin = await createPrincipal(tdb.db, { accountId: acme.id, login: 'admin', role: 'admin' });
    operator = await createPrincipal(tdb.db, { accountId: acme.id, login: 'op', role: 'operator' });
    viewer = await createPrincipal(tdb.db, { accountId: acme.id, login: 'viewer', role: 'viewer' });
    otherAdmin = await createPrincipal(tdb.db, { accountId: beta.id, login: 'beta-admin', role: 'admin' });
    repoId = (await tdb.db.insertInto('repositories').values({ account_id: acme.id, url: 'https://github.com/acme/infra' }).returning('id').executeTakeFirstOrThrow()).id;
    codeId = (await tdb.db.insertInto('stack_codes').values({
      account_id: acme.id, repository_id: repoId, repo_url: 'https://github.com/acme/infra', repo_path: 'stacks/net', name: 'net', current_commit: 'a'.repeat(40), config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow()).id;
    stateId = randomUUID();
    await tdb.db.insertInto('stack_states').values({
      id: stateId, account_id: acme.id, stack_code_id: codeId, name: 'prod', commit_hash: 'a'.repeat(40),
      tf_state_key: stateKeyPrefix('acme', stateId), variables: '{}', metadata: '{}', status: 'active',
    }).execute();
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    app = await buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: acme.id,
      webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      secretBoxFor: boxes.boxFor, bodyLimitBytes: 1 << 20, temporalTimeoutMs: 500,
    });
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });

  describe('secret variables', () => {
    const answers: string[] = [];
    const record = <T extends { body: string }>(r: T): T => { answers.push(r.body); return r; };

    it('an admin sets one (201, then 200); the answer and the list carry names, never the value', async () => {
      const put = record(await call('PUT', `/api/states/${stateId}/secrets/db_password`, admin, { value: SECRET }));
      assert.equal(put.statusCode, 201, put.body);
      assert.deepEqual(Object.keys(JSON.parse(put.body)).sort(), ['name', 'scope', 'updated_at', 'updated_by']);
      const again = record(await call('PUT', `/api/states/${stateId}/secrets/db_password`, admin, { value: SECRET }));
      assert.equal(again.statusCode, 200);
      const list = record(await call('GET', `/api/states/${stateId}/secrets`, viewer));
      assert.equal(list.statusCode, 200);
      assert.deepEqual(JSON.parse(list.body).secrets.map((s: { name: string; updated_by: string }) => [s.name, s.updated_by]), [['db_password', 'admin']]);
      // Sealed with the account's own Transit key.
      assert.deepEqual([...new Set(boxes.keysUsed)], ['temporal-stackly']);
    });

    it('operators and viewers may not set or delete; another account sees 404', async () => {
      for (const p of [operator, viewer]) {
        const r = record(await call('PUT', `/api/states/${stateId}/secrets/x`, p, { value: 'v' }));
        assert.equal(r.statusCode, 403);
        assert.match(r.body, /admin/);
        assert.equal(record(await call('DELETE', `/api/states/${stateId}/secrets/db_password`, p)).statusCode, 403);
      }
      assert.equal(record(await call('PUT', `/api/states/${stateId}/secrets/x`, otherAdmin, { value: 'v' })).statusCode, 404);
      assert.equal(record(await call('GET', `/api/states/${stateId}/secrets`, otherAdmin)).statusCode, 404);
    });

    it('bad names and values are refused with the field named, never quoting the value', async () => {
      for (const [name, re] of [['1abc', /Terraform identifier/], ['has-dash', /Terraform identifier/], ['stackly_inputs', /reserved/]] as const) {
        const r = record(await call('PUT', `/api/states/${stateId}/secrets/${name}`, admin, { value: SECRET }));
        assert.equal(r.statusCode, 400, name);
        assert.match(r.body, re);
      }
      // Longer than the router takes (100 characters): refused before the route.
      assert.equal(record(await call('PUT', `/api/states/${stateId}/secrets/${'a'.repeat(101)}`, admin, { value: SECRET })).statusCode, 414);
      for (const [value, re] of [[42, /value: must be a string/], ['', /value: must not be empty/], ['x'.repeat(32 * 1024 + 1), /at most 32768 bytes/], [`${SECRET}\0`, /NUL/]] as const) {
        const r = record(await call('PUT', `/api/states/${stateId}/secrets/ok_name`, admin, { value }));
        assert.equal(r.statusCode, 400);
        assert.match(r.body, re);
      }
      const extra = record(await call('PUT', `/api/states/${stateId}/secrets/ok_name`, admin, { value: SECRET, other: 1 }));
      assert.equal(extra.statusCode, 400);
      assert.match(extra.body, /the body must be \{\\"value\\": \\"<the secret>\\"\} and nothing else/);
    });

    it("a stack code's secret applies to its states; the state's own wins; rows hold only ciphertext bound to their row", async () => {
      assert.equal(record(await call('PUT', `/api/stack-codes/${codeId}/secrets/db_password`, admin, { value: 'code-level-value-1' })).statusCode, 201);
      assert.equal(record(await call('PUT', `/api/stack-codes/${codeId}/secrets/api_token`, admin, { value: 'code-level-token-2' })).statusCode, 201);
      const rows = await secretsOfState(tdb.db, acmeId, stateId);
      assert.deepEqual(rows.map((r) => [r.name, r.scope]), [['api_token', 'stack_code'], ['db_password', 'state']]);
      const box = boxes.boxFor('temporal-stackly');
      const pw = rows.find((r) => r.name === 'db_password')!;
      assert.equal(await openSecret(box, { accountId: acmeId, scope: 'state', scopeId: stateId, name: 'db_password' }, pw.value_enc), SECRET);
      // A ciphertext moved to another name or scope does not open there.
      await assert.rejects(openSecret(box, { accountId: acmeId, scope: 'state', scopeId: stateId, name: 'api_token' }, pw.value_enc), /sealed for another/);
      await assert.rejects(openSecret(box, { accountId: acmeId, scope: 'stack_code', scopeId: codeId, name: 'db_password' }, pw.value_enc), /sealed for another/);
      const all = JSON.stringify(await tdb.db.selectFrom('secret_variables').selectAll().execute());
      assert.ok(!all.includes(SECRET) && !all.includes('code-level-value-1'));
      const events = JSON.stringify(await tdb.db.selectFrom('events').selectAll().execute());
      assert.match(events, /secret_variable_set/);
      assert.ok(!events.includes(SECRET) && !events.includes('code-level'));
    });

    it('delete: 204, then 404; and no answer ever carried a value', async () => {
      assert.equal(record(await call('DELETE', `/api/stack-codes/${codeId}/secrets/api_token`, admin)).statusCode, 204);
      assert.equal(record(await call('DELETE', `/api/stack-codes/${codeId}/secrets/api_token`, admin)).statusCode, 404);
      const list = record(await call('GET', `/api/stack-codes/${codeId}/secrets`, viewer));
      assert.deepEqual(JSON.parse(list.body).secrets.map((s: { name: string }) => s.name), ['db_password']);
      for (const ev of ['/api/events', `/api/states/${stateId}`, `/api/stack-codes/${codeId}`]) record(await call('GET', ev, admin));
      for (const a of answers) assert.ok(!a.includes(SECRET) && !a.includes('code-level'), a.slice(0, 200));
    });

    it('without Vault configured, setting answers 503 (nothing stored in the clear)', async () => {
      const bare = await buildApi({
        db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: acmeId,
        webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t }, bodyLimitBytes: 1 << 20,
      });
      const r = await bare.inject({ method: 'PUT', url: `/api/states/${stateId}/secrets/new_one`, headers: admin.auth, payload: { value: SECRET } });
      await bare.close();
      assert.equal(r.statusCode, 503);
      assert.equal((await secretsOfState(tdb.db, acmeId, stateId)).some((s) => s.name === 'new_one'), false);
    });
  });

  describe('worker pools', () => {
    const routing = () => createRoutingActivities({ db: tdb.db, liveSeconds: 60 });
    before(async () => {
      const reg = (id: string, labels: Record<string, string>) => registerWorker(tdb.db, {
        id, kind: 'execution', taskQueue: `q-${id}`, capabilities: { features: ['terraform'], labels, resources: {}, version: 't' }, host: 't', pid: 1, incarnation: randomUUID(),
      });
      await reg('shared', { region: 'eu' });
      await reg('secure', { region: 'eu', pool: 'secure' });
      await reg('secure2', { region: 'eu', pool: 'secure' });
    });

    it('unbound: routing uses only workers without a pool label; asking for a pool is refused with the reason', async () => {
      const r = await routing().findTaskQueue({ features: ['terraform'], labels: { region: 'eu' }, stateId });
      assert.deepEqual(r, { ok: true, taskQueue: 'q-shared', workers: ['shared'] });
      const asked = await routing().findTaskQueue({ features: ['terraform'], labels: { pool: 'secure' }, stateId });
      assert.equal(asked.ok, false);
      assert.match((asked as { reason: string }).reason, /requires pool secure, but its repository is bound to no worker pool .*PUT \/api\/worker-pools\/bindings/);
      // A run that names no state (started before this) is unbound too.
      assert.equal((await routing().findTaskQueue({ features: ['terraform'], labels: { pool: 'secure' } })).ok, false);
    });

    it('bindings are admin-only; bound, requires may name the pool and routing may pick it', async () => {
      assert.equal((await call('PUT', '/api/worker-pools/bindings', operator, { repository_id: repoId, pools: ['secure'] })).statusCode, 403);
      const bad = await call('PUT', '/api/worker-pools/bindings', admin, { repository_id: repoId, pools: ['no spaces'] });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /pools\.0: a pool name/);
      assert.equal((await call('PUT', '/api/worker-pools/bindings', otherAdmin, { repository_id: repoId, pools: ['secure'] })).statusCode, 404);
      const ok = await call('PUT', '/api/worker-pools/bindings', admin, { repository_id: repoId, pools: ['secure'] });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(JSON.parse(ok.body).repositories, [{ repository_id: repoId, pools: ['secure'] }]);
      const r = await routing().findTaskQueue({ features: ['terraform'], labels: { pool: 'secure' }, stateId });
      assert.equal(r.ok, true);
      assert.equal((r as { taskQueue: string }).taskQueue, 'q-secure');
      // Another repository's binding does not help: the account's binding is the fallback, not the union.
      assert.equal((await routing().findTaskQueue({ features: ['terraform'], labels: { pool: 'gpu' }, stateId })).ok, false);
    });

    it('a pooled worker refuses a stack outside its binding (fails closed), a shared worker runs any', async () => {
      const secureGuard = createPoolGuard({ db: tdb.db, labels: { pool: 'secure' }, namespace: 'stackly' });
      await secureGuard(stateId, 'plan'); // bound now
      const gpuGuard = createPoolGuard({ db: tdb.db, labels: { pool: 'gpu' }, namespace: 'stackly' });
      await assert.rejects(gpuGuard(stateId, 'plan of net/prod'), /plan of net\/prod: refused by this worker: worker pool gpu is not bound to this stack: its repository is bound to pool secure/);
      await assert.rejects(secureGuard(randomUUID(), 'plan'), /does not exist; refused/);
      await assert.rejects(createPoolGuard({ db: tdb.db, labels: { pool: 'secure' }, namespace: 'stackly-beta' })(stateId, 'plan'), /not of namespace stackly-beta/);
      await createPoolGuard({ db: tdb.db, labels: { region: 'eu' } })(stateId, 'plan');
      // Unbinding takes effect at once.
      await call('PUT', '/api/worker-pools/bindings', admin, { repository_id: repoId, pools: [] });
      await assert.rejects(secureGuard(stateId, 'plan'), /bound to no worker pool/);
    });
  });

  describe('hook permissions', () => {
    it('are read per run from its operation; unknown runs and other namespaces are refused', async () => {
      await tdb.db.insertInto('operations').values({ stack_state_id: stateId, type: 'plan', status: 'running', workflow_id: 'run-hooks-1' }).execute();
      const perms = hookPermissionsFromDb(tdb.db, 'stackly');
      assert.deepEqual(await perms('run-nope'), { refused: 'run run-nope has no operation to tell its account and repository by' });
      assert.deepEqual(await hookPermissionsFromDb(tdb.db, 'stackly-beta')('run-hooks-1'), { refused: 'run run-hooks-1 is not a run of namespace stackly-beta' });
      const before = await perms('run-hooks-1');
      assert.deepEqual(before, { grantedEnv: new Set(), allowedCidrs: [] });
      assert.equal((await call('PUT', `/api/repositories/${repoId}/hook-env/STACKLY_HOOK_SECRET`, operator)).statusCode, 403);
      assert.equal((await call('PUT', `/api/repositories/${repoId}/hook-env/VAULT_TOKEN`, admin)).statusCode, 400);
      assert.equal((await call('PUT', `/api/repositories/${repoId}/hook-env/STACKLY_HOOK_SECRET`, admin)).statusCode, 204);
      const badCidr = await call('PUT', '/api/hooks/allowed-addresses', admin, { cidrs: ['10.0.0.0/8', 'nope'] });
      assert.equal(badCidr.statusCode, 400);
      assert.match(badCidr.body, /cidrs\.1: \\"nope\\" is not an IP address/);
      const allow = await call('PUT', '/api/hooks/allowed-addresses', admin, { cidrs: ['10.1.2.3/24', '127.0.0.1'] });
      assert.deepEqual(JSON.parse(allow.body), { cidrs: ['10.1.2.0/24', '127.0.0.1/32'] });
      assert.deepEqual(await perms('run-hooks-1'), { grantedEnv: new Set(['STACKLY_HOOK_SECRET']), allowedCidrs: ['10.1.2.0/24', '127.0.0.1/32'] });
      assert.equal((await call('DELETE', `/api/repositories/${repoId}/hook-env/STACKLY_HOOK_SECRET`, admin)).statusCode, 204);
      assert.deepEqual(await perms('run-hooks-1'), { grantedEnv: new Set(), allowedCidrs: ['10.1.2.0/24', '127.0.0.1/32'] });
    });
  });
});
