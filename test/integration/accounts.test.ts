/**
 * POST /api/accounts is durable and retry-safe (real Postgres; the Temporal/Vault steps injected so
 * they can fail on purpose; tenancy.test.ts runs the real ones): a failure midway answers 503 and
 * leaves the account `provisioning`, the same request completes it, and then the name answers 409.
 */
import assert from 'node:assert/strict';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { AccountProvisioner } from '../../api/accounts/provision';
import { buildApi } from '../../api/server';
import { createLogger } from '../../common/logger';
import { namespaceClients } from '../../common/temporal';
import { ensureAccount } from '../../db/repos/accounts';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

describe('api: creating accounts (real Postgres)', function () {
  this.timeout(60_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let connection: Connection;
  let root: TestPrincipal;
  const made: string[] = [];
  let failNamespace = 1;
  const provisioner: AccountProvisioner = {
    namespaceFor: (name) => `stackly-${name}`,
    transitKeyFor: (ns) => `temporal-${ns}`,
    async ensureTransitKey(ns) { made.push(`key:${ns}`); },
    async ensureNamespace(ns) {
      if (failNamespace-- > 0) throw new Error('Temporal did not answer');
      made.push(`ns:${ns}`);
    },
  };

  before(async () => {
    tdb = await createTestDb('accounts');
    const platform = await ensureAccount(tdb.db, 'default', 'stackly');
    root = await createPrincipal(tdb.db, { accountId: platform.id, login: 'root', role: 'admin' });
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    app = await buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: platform.id, provisioner,
      webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t }, bodyLimitBytes: 1 << 20,
    });
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });

  const create = (name: string) => app.inject({ method: 'POST', url: '/api/accounts', headers: root.auth, payload: { name } });

  it('a failure midway leaves the account provisioning; the same request completes it; then 409', async () => {
    const first = await create('team-a');
    assert.equal(first.statusCode, 503, first.body);
    assert.match(JSON.parse(first.body).error.message, /stackly-team-a could not be registered.*retry the same request/);
    const row = await tdb.db.selectFrom('accounts').selectAll().where('name', '=', 'team-a').executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.temporal_namespace, row.transit_key], ['provisioning', 'stackly-team-a', 'temporal-stackly-team-a']);
    // Not usable yet: no member, no key.
    assert.equal((await tdb.db.selectFrom('api_keys').selectAll().where('account_id', '=', row.id).execute()).length, 0);

    const second = await create('team-a');
    assert.equal(second.statusCode, 201, second.body);
    const body = JSON.parse(second.body) as { id: string; status: string; api_key: { key: string } };
    assert.deepEqual([body.id, body.status], [row.id, 'ready']);
    assert.deepEqual(made, ['key:stackly-team-a', 'key:stackly-team-a', 'ns:stackly-team-a'], 'the key step ran again (idempotent), the namespace step completed');
    const me = await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${body.api_key.key}` } });
    assert.equal(JSON.parse(me.body).account.name, 'team-a');
    const member = await tdb.db.selectFrom('memberships').selectAll().where('account_id', '=', row.id).where('user_id', '=', root.userId).executeTakeFirst();
    assert.equal(member?.role, 'admin');

    assert.equal((await create('team-a')).statusCode, 409);
  });

  it('only admins of the platform account create accounts; names are checked', async () => {
    const teamA = await tdb.db.selectFrom('accounts').select('id').where('name', '=', 'team-a').executeTakeFirstOrThrow();
    const other = await createPrincipal(tdb.db, { accountId: teamA.id, login: 'team-a-admin', role: 'admin' });
    const r = await app.inject({ method: 'POST', url: '/api/accounts', headers: other.auth, payload: { name: 'team-b' } });
    assert.equal(r.statusCode, 403);
    assert.match(JSON.parse(r.body).error.message, /needs the admin role in the platform account default/);
    const listed = await app.inject({ method: 'GET', url: '/api/accounts', headers: other.auth });
    assert.deepEqual(JSON.parse(listed.body).items.map((a: { name: string }) => a.name), ['team-a']);
    const bad = await create('Team_B');
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body).error.message, /^name: /);
  });
});
