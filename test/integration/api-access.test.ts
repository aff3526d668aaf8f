/**
 * Who may call what (issue 19): every REST route × every role against real Postgres — allowed, or
 * 403 naming the role it needs; 401 without a credential, with a revoked, expired or unknown key;
 * every registered route has a role; API keys are shown once, stored as hashes, revoked at once; an
 * account's caller never sees another account's objects.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { namespaceClients } from '../../common/temporal';
import type { FastifyInstance } from 'fastify';
import { ROUTE_ROLES, roleAtLeast, ROLES, type Role } from '../../api/auth/roles';
import { buildApi, registeredRestRoutes } from '../../api/server';
import { hashSecret, parseApiKey } from '../../common/api-keys';
import { createLogger } from '../../common/logger';
import { stateKeyPrefix } from '../../common/state-keys';
import { ensureAccount } from '../../db/repos/accounts';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

describe('api: roles, keys and accounts (real Postgres)', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let connection: Connection;
  const as: Partial<Record<Role, TestPrincipal>> = {};
  let other: TestPrincipal;
  let acmeState: string;

  const call = (method: string, url: string, headers: Record<string, string> = {}, payload?: unknown) =>
    app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

  before(async () => {
    tdb = await createTestDb('api_access');
    const acme = await ensureAccount(tdb.db, 'acme', 'stackly');
    const beta = await ensureAccount(tdb.db, 'beta', 'stackly-beta');
    for (const role of ROLES) as[role] = await createPrincipal(tdb.db, { accountId: acme.id, login: `${role}-user`, role });
    other = await createPrincipal(tdb.db, { accountId: beta.id, login: 'beta-admin', role: 'admin' });
    acmeState = randomUUID();
    const code = await tdb.db.insertInto('stack_codes').values({
      account_id: acme.id, repo_url: 'file:///r.git', repo_path: 'stacks/net', name: 'net', current_commit: 'a'.repeat(40), config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    await tdb.db.insertInto('stack_states').values({
      id: acmeState, account_id: acme.id, stack_code_id: code.id, name: 'prod', commit_hash: 'a'.repeat(40),
      tf_state_key: stateKeyPrefix('acme', acmeState), variables: '{}', metadata: '{}', status: 'active',
    }).execute();
    // Routes that need Temporal answer 503 here (a lazy connection to nowhere): allowed, not refused.
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    app = await buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: acme.id,
      webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      bodyLimitBytes: 1 << 20, temporalTimeoutMs: 500,
    });
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });

  const concrete = (pattern: string) => pattern.replace(/:(id|userId)\b/g, () => randomUUID()).replace(':group', 'acme%2Fplatform');

  it('every registered REST route has a role, and every role of the table is a registered route', () => {
    const registered = registeredRestRoutes(app);
    assert.ok(registered.length >= 20, registered.join(', '));
    for (const r of registered) assert.ok(r in ROUTE_ROLES, `${r} has a role in api/auth/roles.ts`);
    // The one REST route of the webhook module authorizes itself (api/routes/webhooks.ts); the table test below covers it.
    for (const r of Object.keys(ROUTE_ROLES)) assert.ok(registered.includes(r) || r === 'GET /webhooks/github/deliveries/:id', `${r} is registered`);
  });

  it('route × role: allowed, or 403 naming the role it needs; 401 without a credential', async () => {
    for (const [route, need] of Object.entries(ROUTE_ROLES)) {
      const [method, pattern] = route.split(' ') as [string, string];
      const url = concrete(pattern);
      const anon = await call(method, url, {}, method === 'GET' || method === 'DELETE' ? undefined : {});
      assert.equal(anon.statusCode, 401, `${route} without a credential`);
      for (const role of ROLES) {
        const r = await call(method, url, as[role]!.auth, method === 'GET' || method === 'DELETE' ? undefined : {});
        if (roleAtLeast(role, need)) {
          assert.ok(r.statusCode !== 401 && r.statusCode !== 403, `${route} as ${role}: allowed (got ${r.statusCode} ${r.body})`);
        } else {
          assert.equal(r.statusCode, 403, `${route} as ${role}`);
          assert.match(JSON.parse(r.body).error.message, new RegExp(`needs the ${need} role in account acme; ${role}-user has ${role}`));
        }
      }
    }
  });

  it('401 for an unknown, malformed, revoked or expired key, or a key whose user left the account', async () => {
    const me = (h: Record<string, string>) => call('GET', '/api/me', h);
    assert.equal((await me({ authorization: 'Bearer stk_0123456789_' + 'a'.repeat(43) })).statusCode, 401);
    assert.equal((await me({ authorization: 'Bearer not-a-key' })).statusCode, 401);
    assert.equal((await me({ authorization: 'Basic abc' })).statusCode, 401);
    const acme = (await tdb.db.selectFrom('accounts').select('id').where('name', '=', 'acme').executeTakeFirstOrThrow()).id;
    const expired = await createPrincipal(tdb.db, { accountId: acme, login: 'late', role: 'viewer', expiresAt: new Date(Date.now() - 1000) });
    const r = await me(expired.auth);
    assert.equal(r.statusCode, 401);
    assert.match(JSON.parse(r.body).error.message, /has expired/);
    const leaver = await createPrincipal(tdb.db, { accountId: acme, login: 'leaver', role: 'viewer' });
    assert.equal((await me(leaver.auth)).statusCode, 200);
    await tdb.db.deleteFrom('memberships').where('user_id', '=', leaver.userId).execute();
    assert.match(JSON.parse((await me(leaver.auth)).body).error.message, /no longer a member/);
  });

  it('API keys: made by an admin and shown once, stored as a hash, listed by prefix, revoked at once', async () => {
    const made = await call('POST', '/api/api-keys', as.admin!.auth, { name: 'ci', role: 'operator', expires_in_days: 30 });
    assert.equal(made.statusCode, 201, made.body);
    const body = JSON.parse(made.body) as { id: string; key: string; prefix: string; role: string; expires_at: string };
    assert.equal(body.role, 'operator');
    const parts = parseApiKey(body.key)!;
    assert.equal(parts.prefix, body.prefix);
    const row = await tdb.db.selectFrom('api_keys').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    assert.equal(row.hash, hashSecret(parts.secret));
    assert.ok(!JSON.stringify(row).includes(parts.secret), 'the secret is not stored');
    const auth = { authorization: `Bearer ${body.key}` };
    const me = JSON.parse((await call('GET', '/api/me', auth)).body) as { account: { role: string }; name: string };
    assert.deepEqual([me.name, me.account.role], ['admin-user', 'operator'], 'the key acts for its maker, with its own role');
    const listed = JSON.parse((await call('GET', '/api/api-keys', as.admin!.auth)).body) as { items: Array<Record<string, unknown>> };
    const item = listed.items.find((k) => k.id === body.id)!;
    assert.equal(item.key, undefined, 'never shown again');
    assert.ok(item.last_used_at, 'its use is recorded');
    assert.equal((await call('POST', '/api/api-keys', as.admin!.auth, { name: 'x', role: 'root' })).statusCode, 400);
    assert.equal((await call('DELETE', `/api/api-keys/${body.id}`, as.admin!.auth)).statusCode, 204);
    const gone = await call('GET', '/api/me', auth);
    assert.equal(gone.statusCode, 401);
    assert.match(JSON.parse(gone.body).error.message, /revoked/);
  });

  it('a caller of one account never sees another account\'s objects', async () => {
    assert.equal((await call('GET', `/api/states/${acmeState}`, as.viewer!.auth)).statusCode, 200);
    assert.equal((await call('GET', `/api/states/${acmeState}`, other.auth)).statusCode, 404);
    const list = JSON.parse((await call('GET', '/api/states', other.auth)).body) as { items: unknown[] };
    assert.deepEqual(list.items, []);
    // A key is bound to its account: asking for another with the header is refused.
    const r = await call('GET', '/api/states', { ...other.auth, 'x-stackly-account': 'acme' });
    assert.equal(r.statusCode, 403);
  });

  it('members: an admin lists them, sets roles (kept by sign-in), maps groups (org/team) in this account only, removes them; the last admin stays', async () => {
    const admin = as.admin!.auth;
    const list = JSON.parse((await call('GET', '/api/members', admin)).body) as { items: Array<{ login: string; role: string; user_id: string; source: string }> };
    const viewer = list.items.find((m) => m.login === 'viewer-user')!;
    assert.deepEqual([viewer.role, viewer.source], ['viewer', 'admin']);
    assert.ok(!list.items.some((m) => m.login === 'beta-admin'), 'only this account\'s members');

    const set = await call('PUT', `/api/members/${viewer.user_id}`, admin, { role: 'approver' });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal((JSON.parse((await call('GET', '/api/me', as.viewer!.auth)).body) as { account: { role: string } }).account.role, 'viewer', 'a key never acts above its own role');
    const row = await tdb.db.selectFrom('memberships').selectAll().where('user_id', '=', viewer.user_id).executeTakeFirstOrThrow();
    assert.deepEqual([row.role, row.source], ['approver', 'admin']);
    assert.equal((await call('PUT', `/api/members/${viewer.user_id}`, admin, { role: 'root' })).statusCode, 400);
    assert.equal((await call('PUT', `/api/members/${randomUUID()}`, admin, { role: 'viewer' })).statusCode, 404);
    assert.equal((await call('PUT', '/api/members/not-a-uuid', admin, { role: 'viewer' })).statusCode, 400);

    const mapped = await call('PUT', `/api/members/${viewer.user_id}/groups/acme%2Fplatform`, admin);
    assert.equal(mapped.statusCode, 200, mapped.body);
    assert.deepEqual((JSON.parse(mapped.body) as { groups: string[] }).groups, ['acme/platform']);
    assert.deepEqual((JSON.parse((await call('GET', '/api/me', as.viewer!.auth)).body) as { groups: string[] }).groups, ['acme/platform']);
    assert.equal((await call('PUT', `/api/members/${viewer.user_id}/groups/${encodeURIComponent('<script>')}`, admin)).statusCode, 400);
    // Another account's admin cannot touch this account's member.
    assert.equal((await call('PUT', `/api/members/${viewer.user_id}/groups/x`, other.auth)).statusCode, 404);
    assert.equal((await call('DELETE', `/api/members/${viewer.user_id}/groups/acme%2Fplatform`, admin)).statusCode, 204);
    assert.equal((await call('DELETE', `/api/members/${viewer.user_id}/groups/acme%2Fplatform`, admin)).statusCode, 404);
    assert.deepEqual((JSON.parse((await call('GET', '/api/me', as.viewer!.auth)).body) as { groups: string[] }).groups, []);

    const acmeAdmin = list.items.find((m) => m.login === 'admin-user')!;
    const last = await call('DELETE', `/api/members/${acmeAdmin.user_id}`, admin);
    assert.equal(last.statusCode, 409);
    assert.match(JSON.parse(last.body).error.message, /last admin/);
    assert.equal((await call('PUT', `/api/members/${acmeAdmin.user_id}`, admin, { role: 'viewer' })).statusCode, 409);

    const acme = (await tdb.db.selectFrom('accounts').select('id').where('name', '=', 'acme').executeTakeFirstOrThrow()).id;
    const leaving = await createPrincipal(tdb.db, { accountId: acme, login: 'leaving', role: 'operator' });
    assert.equal((await call('DELETE', `/api/members/${leaving.userId}`, admin)).statusCode, 204);
    assert.equal((await call('GET', '/api/me', leaving.auth)).statusCode, 401, 'a removed member\'s key stops at once');
    assert.equal((await call('DELETE', `/api/members/${leaving.userId}`, admin)).statusCode, 404);
  });
});
