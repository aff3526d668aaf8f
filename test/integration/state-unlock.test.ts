/**
 * POST /api/states/:id/unlock on real Postgres and MinIO (the api app in-process): a lock whose
 * Stackly holder is a dead worker process (here: an earlier incarnation of a worker id that a new
 * process registered since) or that no Stackly worker claimed is broken and recorded as a
 * `state_unlocked` event; a live holder's lock never is (409 naming it); no lock is 404; a missing
 * reason 400; an api without S3 settings 503.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { namespaceClients } from '../../common/temporal';
import type { FastifyInstance } from 'fastify';
import { lockClaimKey, lockKey } from '../../activities/terraform/store';
import { buildApi } from '../../api/server';
import { createLogger } from '../../common/logger';
import { s3Client } from '../../common/s3';
import { stateKey, stateKeyPrefix } from '../../common/state-keys';
import { ensureAccount } from '../../db/repos/accounts';
import { registerWorker } from '../../db/repos/workers';
import { createPrincipal } from '../harness/principals';
import { createTestDb, type TestDb } from '../harness/db';
import * as h from '../harness/services';

/** alice's API key: an admin of the suite's account (unlocking needs the admin role). */
let TOKEN = '';

describe('api: POST /api/states/:id/unlock', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let noS3: FastifyInstance;
  let client: S3Client;
  let bucket: string;
  let accountId: string;
  let stateId: string;
  let prefix: string;
  let connection: Connection;

  const post = (a: FastifyInstance, id: string, body: unknown) =>
    a.inject({ method: 'POST', url: `/api/states/${id}/unlock`, headers: { authorization: `Bearer ${TOKEN}` }, payload: body as object })
      .then((r) => ({ status: r.statusCode, body: r.json() as { error?: { code: string; message: string } } & Record<string, unknown> }));
  const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const exists = (key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(() => true, () => false);
  /** A lock as tofu's S3 backend writes it, optionally with Stackly's claim. */
  async function lock(unit: string, claim?: { workerId: string; incarnation?: string }): Promise<{ key: string; id: string }> {
    const key = stateKey(prefix, unit);
    const id = randomUUID();
    await put(lockKey(key), JSON.stringify({ ID: id, Operation: 'OperationTypeApply', Info: '', Who: 'ada@laptop', Version: '1.12.6', Created: new Date().toISOString(), Path: `${bucket}/${key}` }));
    if (claim) await put(lockClaimKey(key), JSON.stringify({ lockId: id, ...claim, runId: 'run-7', unit, phase: 'apply', claimedAt: new Date().toISOString() }));
    return { key, id };
  }
  const unlockEvents = () => tdb.db.selectFrom('events').selectAll().where('type', '=', 'state_unlocked').where('stack_state_id', '=', stateId).orderBy('id').execute();

  before(async () => {
    const s3 = await h.s3();
    client = s3Client(s3);
    bucket = s3.bucket;
    tdb = await createTestDb('state_unlock');
    const account = await ensureAccount(tdb.db, `acme-${randomBytes(3).toString('hex')}`, 'stackly-test');
    accountId = account.id;
    const code = await tdb.db.insertInto('stack_codes').values({
      account_id: accountId, repo_url: 'file:///nowhere', repo_path: 'stacks/net', name: 'net', current_commit: 'c'.repeat(40), config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    stateId = randomUUID();
    prefix = stateKeyPrefix(account.name, stateId);
    await tdb.db.insertInto('stack_states').values({
      id: stateId, account_id: accountId, stack_code_id: code.id, name: 'prod', commit_hash: '0'.repeat(40),
      tf_state_key: prefix, variables: '{}', metadata: '{}', status: 'active',
    }).execute();
    TOKEN = (await createPrincipal(tdb.db, { accountId, login: 'alice', role: 'admin' })).key;
    // exec-live runs (incarnation live-1); exec-restarted was restarted: its row names the new process.
    const caps = { features: ['terraform'], labels: {}, resources: {}, version: '0' };
    await registerWorker(tdb.db, { id: 'exec-live', kind: 'execution', taskQueue: 'q', capabilities: caps, host: 'h', pid: 1, incarnation: 'live-1' });
    await registerWorker(tdb.db, { id: 'exec-restarted', kind: 'execution', taskQueue: 'q', capabilities: caps, host: 'h', pid: 2, incarnation: 'second' });
    // Never dialled by this route: a lazy connection to nowhere.
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    const deps = {
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: accountId, webhookSecret: 'unused-webhook-secret-0123',
      secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t }, bodyLimitBytes: 1 << 20,
    };
    app = await buildApi({ ...deps, s3: { client, bucket } });
    noS3 = await buildApi(deps);
  });
  after(async () => {
    await app?.close();
    await noS3?.close();
    await connection?.close().catch(() => undefined);
    client?.destroy();
    await tdb?.drop();
  });

  it('400 without a reason (or with a bad unit), naming the field', async () => {
    const r = await post(app, stateId, { unit: 'net' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.error, { code: 'invalid_request', message: 'reason: is required' });
    assert.match((await post(app, stateId, { unit: 'net', reason: '   ' })).body.error!.message, /^reason: is required/);
    assert.match((await post(app, stateId, { reason: 'x' })).body.error!.message, /^unit: is required/);
    assert.match((await post(app, stateId, { unit: '../x', reason: 'x' })).body.error!.message, /^unit: must be a unit name/);
  });

  it('503 when the api has no S3 settings', async () => {
    const { key } = await lock('net', { workerId: 'exec-gone' });
    const r = await post(noS3, stateId, { unit: 'net', reason: 'stuck' });
    assert.equal(r.status, 503);
    assert.equal(r.body.error!.code, 's3_not_configured');
    assert.match(r.body.error!.message, /S3_ACCESS_KEY_ID/);
    assert.ok(await exists(lockKey(key)), 'nothing was touched');
  });

  it('404 when the state does not exist or the unit is not locked', async () => {
    const none = await post(app, stateId, { unit: 'app', reason: 'stuck' });
    assert.equal(none.status, 404);
    assert.equal(none.body.error!.code, 'not_locked');
    assert.match(none.body.error!.message, /^unit app of state prod \(.*\) is not locked/);
    assert.equal((await post(app, randomUUID(), { unit: 'app', reason: 'stuck' })).body.error!.code, 'not_found');
  });

  it('409 when a live worker process holds it (by incarnation, and by id for claims without one): never broken', async () => {
    for (const claim of [{ workerId: 'exec-live', incarnation: 'live-1' }, { workerId: 'exec-live' }]) {
      const { key, id } = await lock('db', claim);
      const r = await post(app, stateId, { unit: 'db', reason: 'looks stuck' });
      assert.equal(r.status, 409);
      assert.equal(r.body.error!.code, 'lock_held');
      assert.match(r.body.error!.message, /locked by worker exec-live.*, run run-7, apply of unit db, which is alive/);
      assert.ok(await exists(lockKey(key)), 'the live holder keeps its lock');
      assert.ok(await exists(lockClaimKey(key)));
      assert.ok(id);
    }
    assert.deepEqual(await unlockEvents(), []);
  });

  it('200 + state_unlocked for a dead holder: an earlier process of a worker id registered again since', async () => {
    const { key, id } = await lock('db', { workerId: 'exec-restarted', incarnation: 'first' });
    const r = await post(app, stateId, { unit: 'db', reason: 'worker restarted mid-apply' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.unlocked, true);
    assert.equal(r.body.why, 'holder_not_alive');
    assert.equal((r.body.lock as { id: string }).id, id);
    assert.equal(await exists(lockKey(key)), false, 'the lock is gone');
    assert.equal(await exists(lockClaimKey(key)), false, 'and its claim');
    const [e] = await unlockEvents();
    assert.ok(e);
    assert.equal(e.account_id, accountId);
    const p = e.payload as Record<string, unknown>;
    assert.equal(p.by, 'alice');
    assert.equal(p.reason, 'worker restarted mid-apply');
    assert.equal(p.lock_id, id);
    assert.equal(p.unit, 'db');
    assert.equal(p.why, 'holder_not_alive');
    assert.deepEqual({ ...(p.holder as object), claimed_at: undefined }, { worker_id: 'exec-restarted', incarnation: 'first', run_id: 'run-7', unit: 'db', phase: 'apply', claimed_at: undefined });
  });

  it('200 + state_unlocked for a lock no Stackly worker claimed (a human\'s tofu), as tofu force-unlock', async () => {
    const { key, id } = await lock('net');
    const r = await post(app, stateId, { unit: 'net', reason: 'my laptop crashed during tofu apply' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.why, 'unclaimed');
    assert.equal(await exists(lockKey(key)), false);
    const e = (await unlockEvents()).at(-1)!;
    const p = e.payload as Record<string, unknown>;
    assert.equal(p.lock_id, id);
    assert.equal(p.holder, null);
    assert.equal(p.why, 'unclaimed');
    assert.equal((p.lock as { who: string }).who, 'ada@laptop');
    // Nothing left to unlock now.
    assert.equal((await post(app, stateId, { unit: 'net', reason: 'again' })).status, 404);
  });
});
