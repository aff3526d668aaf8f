/**
 * Issue 15 end to end (real Temporal, Vault, MinIO, tofu, Postgres): a secret variable set through
 * the api reaches the resource (a local-exec writes its sha256) and is nowhere else: not in the raw or
 * decoded Temporal history, events, S3 logs, review plan or api answers; sensitive outputs travel as
 * references; a stack asking for a pool its repository is not bound to never runs there, and a task
 * forged straight onto that pool's queue is refused by the worker; a payload written without the
 * codec is refused by the workers.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { createVaultKeyring } from '../../common/codec';
import { createLogger } from '../../common/logger';
import { s3Client } from '../../common/s3';
import { transitSecretBoxes } from '../../common/secret-box';
import { dataConverter, fixedClients } from '../../common/temporal';
import { progressQuery, stackRunWorkflowId, type RunProgress, type StackRunInput } from '../../workflows/definitions';
import { createPrincipal, type TestPrincipal } from '../harness/principals';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';
import { commitOneResourceStack, waitForPhase } from './helpers';

const SECRET = 'Sup3r-S3cret-Value-7f1e0c9a';
const DIGEST = createHash('sha256').update(SECRET).digest('hex');

describe('issue 15 end to end: secret variables, sensitive outputs, worker pools, strict codec', function () {
  this.timeout(600_000);
  let s: Stackly;
  let label: string;
  let repo: ReturnType<typeof makeRepo>;
  let acctId: string;
  let repositoryId: string;
  let app: FastifyInstance;
  let admin: TestPrincipal;
  const answers: string[] = [];
  const api = async (method: string, url: string, payload?: unknown) => {
    const r = await app.inject({ method: method as 'GET', url, headers: admin.auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
    answers.push(r.body);
    return r;
  };

  before(async () => {
    s = await startStackly('exsecrets');
    label = s.t.schema;
    repo = makeRepo(h.testStateDir());
    acctId = (await s.t.db.insertInto('accounts').values({ name: 'acme', temporal_namespace: s.namespace }).returning('id').executeTakeFirstOrThrow()).id;
    repositoryId = (await s.t.db.insertInto('repositories').values({ account_id: acctId, url: repo.url }).returning('id').executeTakeFirstOrThrow()).id;
    admin = await createPrincipal(s.t.db, { accountId: acctId, login: 'admin', role: 'admin' });
    const vault = await h.vault();
    app = await buildApi({
      db: s.t.db, logger: createLogger('test', 'silent'), temporal: fixedClients(s.client), platformAccountId: acctId,
      webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      secretBoxFor: transitSecretBoxes({ addr: vault.addr, token: vault.token }), bodyLimitBytes: 1 << 20,
    });
    await s.startExecWorker('exec-shared', { suite: label });
  });
  after(async () => {
    await app?.close();
    await s?.stop();
  });

  const start = (ids: { codeId: string; stateId: string; commit: string }, client: Client = s.client) => client.workflow.start('stackRunWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${stackRunWorkflowId(ids.stateId, ids.commit, 'deploy')}-${Date.now()}`,
    args: [{ stateId: ids.stateId, stackCodeId: ids.codeId, commit: ids.commit, kind: 'deploy', trigger: { type: 'push', by: 'tester' } } satisfies StackRunInput],
  });
  const outcome = async (handle: WorkflowHandle): Promise<RunProgress> => {
    await handle.result().catch((e: unknown) => { if (!(e instanceof WorkflowFailedError)) throw e; });
    return handle.query(progressQuery);
  };

  /** Every payload of the history decoded with the namespace's codec, as text. */
  async function decodedHistory(handle: WorkflowHandle): Promise<string> {
    const vault = await h.vault();
    const codec = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token }).codec(s.namespace);
    const history = await handle.fetchHistory();
    const texts: string[] = [];
    const walk = async (v: unknown): Promise<void> => {
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (Array.isArray(o.payloads)) {
        for (const p of await codec.decode(o.payloads as never[])) texts.push(Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
      }
      if (o.encodedAttributes && typeof o.encodedAttributes === 'object') {
        for (const p of await codec.decode([o.encodedAttributes as never])) texts.push(Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
      }
      for (const x of Object.values(o)) await walk(x);
    };
    await walk(history);
    return texts.join('\n');
  }

  it('a secret variable set through the api reaches the resource, and nothing else', async () => {
    const out = join(h.jobWritableDir('secret-digest'), `secret-digest-${label}.txt`);
    const ids = await commitOneResourceStack(s, repo, {
      name: 'withsecret', env: 'prod', label, accountId: acctId, repositoryId,
      extraTf: `
variable "db_password" {
  type = string
}
resource "terraform_data" "uses_secret" {
  input = sha256(var.db_password)
  provisioner "local-exec" {
    command     = "printf '%s' \\"$DIGEST\\" > ${out}; echo the secret is $PW"
    environment = { DIGEST = sha256(var.db_password), PW = var.db_password }
  }
}
output "digest" {
  value     = sha256(var.db_password)
  sensitive = true
}
`,
    });
    const put = await api('PUT', `/api/states/${ids.stateId}/secrets/db_password`, { value: SECRET });
    assert.equal(put.statusCode, 201, put.body);
    // A stack-level one of another name, not declared by the stack: given to nobody.
    assert.equal((await api('PUT', `/api/stack-codes/${ids.codeId}/secrets/unused_one`, { value: 'unused-secret-value-31' })).statusCode, 201);

    const handle = await start(ids);
    const p = await outcome(handle);
    assert.equal(p.phase, 'succeeded', p.error);
    assert.ok(existsSync(out), 'the local-exec ran');
    assert.equal(readFileSync(out, 'utf8'), DIGEST, 'the resource saw the secret');

    const raw = JSON.stringify(await handle.fetchHistory());
    const decoded = await decodedHistory(handle);
    assert.ok(decoded.includes('withsecret'), 'the decoded history is readable');
    for (const [where, text] of [['raw history', raw], ['decoded history', decoded]] as const) {
      assert.ok(!text.includes(SECRET), `secret not in the ${where}`);
      assert.ok(!text.includes(DIGEST), `the sensitive output's value is not in the ${where}`);
    }
    assert.match(decoded, /\$stacklyRef/, 'sensitive outputs travel as references');
    const events = JSON.stringify(await s.t.db.selectFrom('events').selectAll().execute());
    assert.ok(!events.includes(SECRET), 'not in events');
    const s3 = s3Client(await h.s3());
    const bucket = (await h.s3()).bucket;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `runs/${handle.workflowId}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    assert.ok(keys.some((k) => k.includes('/logs/')), keys.join(', '));
    assert.ok(keys.some((k) => k.includes('/outputs/')), 'sensitive outputs stored as objects');
    for (const k of keys) {
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body!.transformToByteArray()).toString('utf8');
      assert.ok(!body.includes(SECRET), `secret not in s3://${bucket}/${k}`);
      if (k.includes('/logs/')) assert.ok(!body.includes(DIGEST) || !body.includes(SECRET));
    }
    for (const url of [`/api/runs/${handle.workflowId}`, `/api/states/${ids.stateId}`, `/api/states/${ids.stateId}/secrets`, '/api/events']) await api('GET', url);
    for (const a of answers) assert.ok(!a.includes(SECRET) && !a.includes('unused-secret-value-31'), a.slice(0, 300));
  });

  it('a stack asking for a pool its repository is not bound to never runs there; a forged task is refused by the worker', async () => {
    await s.startExecWorker('exec-secure', { suite: label, pool: 'secure' });
    const ids = await commitOneResourceStack(s, repo, { name: 'wantspool', env: 'prod', label, accountId: acctId, repositoryId });
    await s.t.db.updateTable('stack_codes').set({ config: JSON.stringify({
      name: 'wantspool', environment: 'prod', execution: 'modules', autoDeploy: true, onDelete: 'loose', parallelism: 1,
      requires: { features: ['terraform'], labels: { suite: label, pool: 'secure' } }, variables: {},
      states: [{ name: 'prod', variables: {} }], policies: [], hooks: { prePlan: [], postPlan: [], preApply: [], postApply: [] },
    }) }).where('id', '=', ids.codeId).execute();
    const handle = await start(ids);
    const waiting = await waitForPhase(handle, ['waiting_for_worker']);
    assert.match(waiting.waitingReason ?? JSON.stringify(waiting), /requires pool secure, but its repository is bound to no worker pool/);
    await handle.terminate('test over');

    // Straight onto the secure worker's queue, around routing (someone with Temporal access and the codec).
    const secureQueue = (await s.t.db.selectFrom('workers').select('task_queue').where('id', '=', 'exec-secure').executeTakeFirstOrThrow()).task_queue;
    const nc = await NativeConnection.connect({ address: (await h.temporal()).address });
    const vault = await h.vault();
    const codec = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token }).codec(s.namespace);
    const forgeQueue = `forge-${label}`;
    const forger = await Worker.create({ connection: nc, namespace: s.namespace, taskQueue: forgeQueue, workflowsPath: require.resolve('../fixtures/forge-workflows'), dataConverter: dataConverter(codec) });
    const running = forger.run();
    try {
      const run = { account: 'acme', stack: 'wantspool', state: 'prod', stateId: ids.stateId, statePrefix: ids.statePrefix, runId: 'run-forged-1' };
      const forged = s.client.workflow.execute('forgeActivity', {
        taskQueue: forgeQueue, workflowId: `forge-${Date.now()}`,
        args: [secureQueue, 'planUnit', { source: { repoUrl: repo.url, commit: ids.commit, stackPath: 'stacks/wantspool' }, run, units: { units: [] }, variables: {}, unit: 'x', inputs: {} }],
      });
      await assert.rejects(forged, (e: unknown) => {
        const msg = JSON.stringify(e, Object.getOwnPropertyNames(e)) + String((e as { cause?: { cause?: { message?: string } } }).cause?.cause?.message);
        assert.match(msg, /refused by this worker: worker pool secure is not bound to this stack/);
        return true;
      });
      const ops = await s.t.db.selectFrom('operations').select('id').where('workflow_id', '=', 'run-forged-1').execute();
      assert.equal(ops.length, 0);
    } finally {
      forger.shutdown();
      await running;
      await nc.close();
    }
  });

  it('a payload written without the codec is refused by the workers (the run never starts its work)', async () => {
    const ids = await commitOneResourceStack(s, repo, { name: 'plainpayload', env: 'prod', label, accountId: acctId, repositoryId });
    const conn = await Connection.connect({ address: (await h.temporal()).address });
    try {
      const plain = new Client({ connection: conn, namespace: s.namespace });
      const handle = await start(ids, plain);
      const deadline = Date.now() + 30_000;
      let failedTask = false;
      while (Date.now() < deadline && !failedTask) {
        await new Promise((r) => setTimeout(r, 1000));
        const events = (await handle.fetchHistory()).events ?? [];
        failedTask = events.some((e) => e.workflowTaskFailedEventAttributes);
        assert.ok(!events.some((e) => e.activityTaskScheduledEventAttributes), 'no activity was scheduled from an unencrypted input');
      }
      assert.ok(failedTask, 'the workflow task failed to decode its input');
      const ops = await s.t.db.selectFrom('operations').select('id').where('workflow_id', '=', handle.workflowId).execute();
      assert.equal(ops.length, 0, 'nothing acted on it');
      await handle.terminate('test over');
    } finally {
      await conn.close();
    }
  });
});
