/** The schema against the real Postgres: migrations apply, re-apply is a no-op, constraints hold. */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { migrate } from '../../db';
import { liveWorkers, registerWorker, heartbeatWorker, listWorkers } from '../../db/repos/workers';
import { createTestDb, type TestDb } from '../harness/db';

describe('db: schema and migrations (real Postgres)', function () {
  let t: TestDb;
  before(async () => { t = await createTestDb('migrations'); });
  after(async () => { await t?.drop(); });

  it('creates every registry table in the suite schema', async () => {
    const rows = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = ${t.schema} order by 1`.execute(t.db);
    const names = rows.rows.map((r) => r.table_name);
    for (const table of ['accounts', 'approvals', 'events', 'git_cache', 'operations', 'repositories', 'stack_codes', 'stack_states', 'webhook_deliveries', 'workers']) {
      assert.ok(names.includes(table), `${table} exists (have ${names.join(', ')})`);
    }
  });

  it('is idempotent: a second migrate applies nothing', async () => {
    assert.deepEqual((await migrate(t.db, t.schema)).applied, []);
  });

  it('keeps one delivery per GitHub delivery id', async () => {
    await t.db.insertInto('webhook_deliveries').values({ delivery_id: 'd-1', event: 'push', status: 'received' }).execute();
    await assert.rejects(
      t.db.insertInto('webhook_deliveries').values({ delivery_id: 'd-1', event: 'push', status: 'received' }).execute(),
      /duplicate key/,
    );
  });

  it('keeps one live stack code per directory but lets de-registered ones stay as history', async () => {
    const acct = await t.db.insertInto('accounts').values({ name: 'acme', temporal_namespace: 'stackly' }).returning('id').executeTakeFirstOrThrow();
    const code = (status: 'active' | 'deregistered') => ({
      account_id: acct.id, repo_url: 'file:///r.git', repo_path: 'stacks/net', name: 'net', current_commit: 'a'.repeat(40),
      config: '{}', status,
    });
    await t.db.insertInto('stack_codes').values(code('deregistered')).execute();
    await t.db.insertInto('stack_codes').values(code('active')).execute();
    await assert.rejects(t.db.insertInto('stack_codes').values(code('active')).execute(), /duplicate key/);
  });

  it('tells live workers from those that stopped heartbeating', async () => {
    const caps = { features: ['terraform'], labels: { env: 'prod' }, resources: {}, version: '1' };
    await registerWorker(t.db, { id: 'w-live', kind: 'execution', taskQueue: 'q', capabilities: caps, host: 'h', pid: 1 });
    await registerWorker(t.db, { id: 'w-old', kind: 'execution', taskQueue: 'q', capabilities: caps, host: 'h', pid: 2 });
    await t.db.updateTable('workers').set({ last_heartbeat_at: sql`now() - interval '1 minute'` }).where('id', '=', 'w-old').execute();
    await heartbeatWorker(t.db, 'w-live');
    assert.deepEqual((await liveWorkers(t.db, 15)).map((w) => w.id), ['w-live']);
    const all = await listWorkers(t.db, 15);
    assert.deepEqual(all.map((w) => [w.id, w.online]), [['w-live', true], ['w-old', false]]);
    assert.deepEqual(all[0].capabilities.labels, { env: 'prod' });
  });
});
