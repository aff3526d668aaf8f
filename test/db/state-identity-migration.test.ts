/**
 * Migration 0002 and its data step against real Postgres and MinIO: every state gets a key derived
 * from its id; the objects under the old name-derived key move there (the oldest of states that
 * shared one key keeps its objects); a held lock stops the move of that state; repeating is harmless.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { sql } from 'kysely';
import { createDb, migrate, type Db } from '../../db';
import { moveLegacyStateObjects, pendingStateMoves } from '../../db/state-objects';
import { s3Client } from '../../common/s3';
import { databaseUrl, s3 } from '../harness/services';

describe('db: migration 0002, state keys from state ids (Postgres, MinIO)', function () {
  this.timeout(120_000);
  const schema = `t_state_keys_${randomBytes(4).toString('hex')}`;
  const account = `acct${randomBytes(3).toString('hex')}`;
  let db: Db;
  let client: S3Client;
  let bucket: string;
  const ids: Record<string, string> = {};

  const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const get = async (key: string): Promise<string | undefined> => {
    try {
      return await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    } catch {
      return undefined;
    }
  };
  const list = async (prefix: string) => ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();

  before(async () => {
    const s = await s3();
    client = s3Client(s);
    bucket = s.bucket;
    db = createDb({ url: databaseUrl(), schema, max: 2 });
    await migrate(db, schema, '20261122_0001_registry');
    const acct = await db.insertInto('accounts').values({ name: account, temporal_namespace: 'stackly' }).returning('id').executeTakeFirstOrThrow();
    const code = (path: string, name: string) => db.insertInto('stack_codes').values({
      account_id: acct.id, repo_url: `file:///${path}.git`, repo_path: 'stacks/net', name, current_commit: 'a'.repeat(40), config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    const state = async (label: string, codeId: string, key: string) => {
      const r = await db.insertInto('stack_states').values({
        account_id: acct.id, stack_code_id: codeId, name: 'prod', commit_hash: 'a'.repeat(40), tf_state_key: key,
        variables: '{}', metadata: '{}', status: 'active',
      }).returning('id').executeTakeFirstOrThrow();
      ids[label] = r.id;
      await sql`select pg_sleep(0.01)`.execute(db); // distinct created_at: the oldest is well defined
    };
    // Two repositories that both declared stack "net" shared one name-derived key: the bug.
    await state('first', (await code('one', 'net')).id, `${account}/net/prod/`);
    await state('second', (await code('two', 'net')).id, `${account}/net/prod/`);
    await state('app', (await code('three', 'app')).id, `${account}/app/prod/`);
    await state('locked', (await code('four', 'db')).id, `${account}/db/prod/`);
    await put(`${account}/net/prod/root.tfstate`, 'net-state');
    await put(`${account}/net/prod/vpc.tfstate`, 'vpc-state');
    await put(`${account}/app/prod/root.tfstate`, 'app-state');
    await put(`${account}/db/prod/root.tfstate`, 'db-state');
    await put(`${account}/db/prod/root.tfstate.tflock`, '{"ID":"held"}');
    await migrate(db, schema);
  });
  after(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
    await db.destroy();
    client.destroy();
  });

  it('gives every state the key <account>/<state-id>/, and the old key to the oldest of states that shared one', async () => {
    const rows = await db.selectFrom('stack_states').select(['id', 'tf_state_key', 'legacy_tf_state_key', 'metadata', 'generation']).execute();
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    for (const id of Object.values(ids)) assert.equal(by[id]!.tf_state_key, `${account}/${id}/`);
    assert.equal(by[ids.first!]!.legacy_tf_state_key, `${account}/net/prod/`);
    assert.equal(by[ids.second!]!.legacy_tf_state_key, null, 'the newer state that shared the key starts empty');
    assert.deepEqual((by[ids.second!]!.metadata as Record<string, unknown>).legacy_key_shared, { key: `${account}/net/prod/`, objects_given_to: ids.first });
    assert.equal(by[ids.app!]!.legacy_tf_state_key, `${account}/app/prod/`);
    assert.equal(await pendingStateMoves(db), 3);
  });

  it('moves the objects to the new keys; a held lock leaves that state for later; repeating changes nothing', async () => {
    const r = await moveLegacyStateObjects(db, client, bucket);
    assert.deepEqual(r.moved.map((m) => [m.stateId, m.objects]).sort(), [[ids.app, 1], [ids.first, 2]].sort());
    assert.deepEqual(r.skipped.map((m) => m.stateId), [ids.locked]);
    assert.match(r.skipped[0]!.reason, /lock/);
    assert.equal(await get(`${account}/${ids.first}/root.tfstate`), 'net-state');
    assert.equal(await get(`${account}/${ids.first}/vpc.tfstate`), 'vpc-state');
    assert.equal(await get(`${account}/${ids.app}/root.tfstate`), 'app-state');
    assert.deepEqual(await list(`${account}/net/`), []);
    assert.deepEqual(await list(`${account}/${ids.second}/`), []);
    assert.deepEqual(await list(`${account}/db/prod/`), [`${account}/db/prod/root.tfstate`, `${account}/db/prod/root.tfstate.tflock`]);
    assert.equal(await pendingStateMoves(db), 1);

    // The lock released: the next migrate moves it. And again: nothing left to do.
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${account}/db/prod/root.tfstate.tflock` }));
    const r2 = await moveLegacyStateObjects(db, client, bucket);
    assert.deepEqual(r2.moved.map((m) => m.stateId), [ids.locked]);
    assert.equal(await get(`${account}/${ids.locked}/root.tfstate`), 'db-state');
    assert.deepEqual(await moveLegacyStateObjects(db, client, bucket), { moved: [], skipped: [] });
    assert.equal(await pendingStateMoves(db), 0);
  });
});
