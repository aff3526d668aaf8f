/**
 * Worker registration by incarnation (workers/registration.ts, db/repos/workers.ts) on real
 * Postgres: a second process under the same worker id replaces the incarnation; the first one's lock
 * claims count as dead at once, it learns that it was superseded, and its stop never marks the new
 * process stopped. A removed row is registered again with the same incarnation.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { getWorker, lockHolderAlive } from '../../db/repos/workers';
import { newIncarnation, startRegistration } from '../../workers/registration';
import { createTestDb, type TestDb } from '../harness/db';

const logger = pino({ level: 'silent' });
const caps = { features: ['terraform'], labels: {}, resources: {}, version: 't' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker registration: incarnations', function () {
  this.timeout(30_000);
  let t: TestDb;
  before(async () => { t = await createTestDb('worker_reg'); });
  after(async () => { await t?.drop(); });

  it('a new process under the same id supersedes the old one; only the new one is alive; the old one\'s stop leaves it alone', async () => {
    const [first, second] = [newIncarnation(), newIncarnation()];
    assert.notEqual(first, second);
    const superseded: Array<string | null> = [];
    const a = await startRegistration(t.db, logger, { id: 'exec-x', kind: 'execution', taskQueue: 'q', capabilities: caps, incarnation: first },
      { heartbeatMs: 100, onSuperseded: (by) => superseded.push(by) });
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-x', incarnation: first }, 15), true);
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-x' }, 15), true, 'a claim without incarnation: by id');

    const b = await startRegistration(t.db, logger, { id: 'exec-x', kind: 'execution', taskQueue: 'q', capabilities: caps, incarnation: second }, { heartbeatMs: 100 });
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-x', incarnation: first }, 15), false, 'the earlier process\'s locks are dead');
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-x', incarnation: second }, 15), true);
    for (let i = 0; i < 50 && superseded.length === 0; i++) await sleep(50);
    assert.deepEqual(superseded, [second], 'the earlier process is told, with the new incarnation');

    await a.stop();
    const row = await getWorker(t.db, 'exec-x');
    assert.equal(row?.stopped_at, null, 'the old process\'s stop does not stop the new one');
    assert.equal(row?.incarnation, second);

    await b.stop();
    assert.notEqual((await getWorker(t.db, 'exec-x'))?.stopped_at, null);
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-x', incarnation: second }, 15), false, 'stopped: dead');
  });

  it('a removed row is registered again with the same incarnation (its claims stay valid)', async () => {
    const inc = newIncarnation();
    const r = await startRegistration(t.db, logger, { id: 'exec-y', kind: 'execution', taskQueue: 'q', capabilities: caps, incarnation: inc },
      { heartbeatMs: 100, onSuperseded: () => assert.fail('not superseded') });
    await t.db.deleteFrom('workers').where('id', '=', 'exec-y').execute();
    for (let i = 0; i < 50 && !(await getWorker(t.db, 'exec-y')); i++) await sleep(50);
    assert.equal((await getWorker(t.db, 'exec-y'))?.incarnation, inc);
    assert.equal(await lockHolderAlive(t.db, { workerId: 'exec-y', incarnation: inc }, 15), true);
    await r.stop();
  });
});
