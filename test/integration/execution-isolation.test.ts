/**
 * Execution isolation and per-unit state credentials on real tofu, MinIO, Vault and Temporal
 * (activities/terraform/sandbox.ts, state-credentials.ts):
 *
 * - the credentials minted for one unit reach its state object and lock only (AccessDenied for any
 *   other key, for listing, for the run's plans and logs), checked directly against MinIO;
 * - a hostile stack (test/fixtures/stacks/hostile/probe) run end to end through a real execution
 *   worker process (workers/main.ts, with VAULT_TOKEN, DATABASE_URL and the bucket keys in its
 *   environment): its plan-time functions and its apply-time `local-exec` try to read the worker's
 *   environment, its work directory and git mirrors, the services' data, another job's directory,
 *   and to write the shared binary, CLI config and provider mirror. Every attempt fails, and none
 *   of the secrets appears in its outputs, the run's S3 logs, events, worker log or (decoded)
 *   Temporal history;
 * - `terraform_remote_state` of another stack's state object fails through tofu: AccessDenied with
 *   the unit's credentials, no credentials at all in the review plan.
 *
 * The `external` provider cannot be downloaded on the test machine, so plan-time code is covered by
 * builtin functions (file, fileexists, fileset in try) and terraform_remote_state.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { createVaultKeyring } from '../../common/codec';
import { createLogger } from '../../common/logger';
import { stateKey, stateKeyPrefix } from '../../common/state-keys';
import { analyzeStackDir } from '../../activities/hcl/analyze';
import { blobCipherFromKeyring, createTerraformActivities } from '../../activities/terraform';
import { processIsolation, type SandboxJob } from '../../activities/terraform/sandbox';
import { stateCredentialMinter, type StateCredentials } from '../../activities/terraform/state-credentials';
import { s3Client } from '../../scripts/services';
import type { RunProgress } from '../../workflows/definitions';
import { decodeHistory } from '../replay/record';
import { historyToJSON } from '../replay/history-json';
import { copyFixture, makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';
import { createTestDb, type TestDb } from '../harness/db';
import {
  decide, registerStack, spawnExecWorkerProcess, stackHcl, startRun, waitForPhase, type WorkerProcess,
} from '../workflows/helpers';

const FIXTURES = resolve(__dirname, '../fixtures/stacks/hostile');
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const denied = (e: unknown): boolean => {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'AccessDenied' || err.Code === 'AccessDenied' || err.$metadata?.httpStatusCode === 403;
};

describe('per-unit state credentials (MinIO STS)', function () {
  this.timeout(120_000);
  let s3: Awaited<ReturnType<typeof h.s3>>;
  let worker: S3Client;
  const prefix = stateKeyPrefix('acme', randomUUID());
  const key = stateKey(prefix, 'net');
  const victim = stateKey(stateKeyPrefix('other', randomUUID()), 'db');

  before(async () => {
    s3 = await h.s3();
    worker = s3Client(s3);
    await worker.send(new PutObjectCommand({ Bucket: s3.bucket, Key: victim, Body: '{"victim":true}' }));
  });
  after(() => worker?.destroy());

  const unitClient = (c: StateCredentials) => new S3Client({
    endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
  });

  it('reach the unit\'s state object and lock, and nothing else (AccessDenied)', async () => {
    const mint = stateCredentialMinter(s3, { durationSeconds: 900 });
    const times: number[] = [];
    let creds!: StateCredentials;
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      creds = await mint(key, `net-plan-run-${i}`);
      times.push(ms(t0));
    }
    process.stdout.write(`      minting state credentials (ms): ${times.map((t) => t.toFixed(1)).join(', ')}\n`);
    assert.notEqual(creds.accessKeyId, s3.accessKeyId);
    assert.notEqual(creds.secretAccessKey, s3.secretAccessKey);
    assert.ok(creds.expiration && creds.expiration.getTime() - Date.now() <= 901_000, 'short-lived');
    const c = unitClient(creds);
    try {
      await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: '{}' }));
      assert.equal(await (await c.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString(), '{}');
      await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${key}.tflock`, Body: 'lock' }));
      await c.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${key}.tflock` }));
      const refused: Array<[string, () => Promise<unknown>]> = [
        ['another stack\'s state (read)', () => c.send(new GetObjectCommand({ Bucket: s3.bucket, Key: victim }))],
        ['another stack\'s state (write)', () => c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: victim, Body: 'x' }))],
        ['another stack\'s state (delete)', () => c.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: victim }))],
        ['another unit of the same state', () => c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: stateKey(prefix, 'app'), Body: 'x' }))],
        ['the Stackly lock claim', () => c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${key}.tflock.stackly`, Body: 'x' }))],
        ['a run\'s plans and logs', () => c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'runs/r/units/net.tfplan.enc', Body: 'x' }))],
        ['listing the bucket', () => c.send(new ListObjectsV2Command({ Bucket: s3.bucket }))],
        ['listing the account', () => c.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'acme/' }))],
        ['listing the state', () => c.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))],
      ];
      for (const [what, f] of refused) await assert.rejects(f(), (e: unknown) => denied(e) || assert.fail(`${what}: ${String(e)}`), what);
      assert.equal(await (await worker.send(new GetObjectCommand({ Bucket: s3.bucket, Key: victim }))).Body!.transformToString(), '{"victim":true}');
    } finally {
      c.destroy();
    }
  });

  it('fails closed, naming STS, where the endpoint mints none', async () => {
    const mint = stateCredentialMinter({ ...s3, secretAccessKey: 'wrong' });
    await assert.rejects(mint(key, 's'), /minting state credentials for .*STS AssumeRole.*never gets the worker's own keys/s);
  });
});

describe('a hostile stack cannot reach the worker, other jobs or other states (real worker process)', function () {
  this.timeout(600_000);
  let s: Stackly;
  let proc: WorkerProcess | undefined;
  let repo: ReturnType<typeof makeRepo>;
  let label: string;
  let base: string;
  let otherJob: SandboxJob;
  let s3: Awaited<ReturnType<typeof h.s3>>;
  let vault: Awaited<ReturnType<typeof h.vault>>;
  let tofu: string;
  const otherSecret = `other-job-${randomBytes(8).toString('hex')}`;
  let secrets: Record<string, string>;

  before(async () => {
    [s, s3, vault, tofu] = await Promise.all([startStackly('isolation'), h.s3(), h.vault(), h.tofu()]);
    label = s.t.schema;
    repo = makeRepo(h.testStateDir());
    // The worker's directory where a job could reach it if the worker did not close it (0711 parent).
    base = mkdtempSync(join(tmpdir(), 'stackly-hostile-'));
    chmodSync(base, 0o711);
    mkdirSync(join(base, 'worker'));
    proc = await spawnExecWorkerProcess(s, 'exec-hostile', { suite: label }, { workDir: join(base, 'worker') });
    // Another job, running meanwhile (this process's isolation: a uid of the same range, claimed).
    otherJob = await processIsolation(tofu).openJob('other');
    otherJob.writeFile(join(otherJob.dir, 'secret'), otherSecret);
    await otherJob.handOver();
    const url = new URL(s.t.url);
    url.searchParams.set('options', `-c search_path=${s.t.schema}`);
    secrets = { VAULT_TOKEN: vault.token, DATABASE_URL: url.toString(), S3_SECRET_ACCESS_KEY: s3.secretAccessKey, otherJob: otherSecret };
  });
  after(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await otherJob?.close();
    await s?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** Every place a run could have written a value: its outputs, S3 logs, events, the worker log, the decoded history. */
  async function everythingWritten(handle: { workflowId: string }, result: unknown): Promise<{ logs: string; all: string }> {
    const client = s3Client(s3);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'runs/', ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!).filter((k) => k.includes(handle.workflowId) && k.endsWith('.log.enc')));
      token = page.NextContinuationToken;
    } while (token);
    // Logs in S3 are sealed with the namespace's key (issue 17): opened here as a reader with that key would.
    const keyring = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token });
    const cipher = blobCipherFromKeyring(keyring, s.namespace);
    const logs = (await Promise.all(keys.map(async (k) => {
      const body = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: k }))).Body!.transformToByteArray();
      return (await cipher.decrypt(Buffer.from(body))).toString('utf8');
    }))).join('\n');
    client.destroy();
    const events = JSON.stringify(await s.t.db.selectFrom('events').selectAll().execute());
    const history = await s.client.workflow.getHandle(handle.workflowId).fetchHistory();
    const codec = keyring.codec(s.namespace);
    await decodeHistory(history, codec);
    const hist = historyToJSON(history);
    const workerLog = readFileSync(proc!.logFile, 'utf8');
    return { logs, all: [JSON.stringify(result), logs, events, hist, workerLog].join('\n') };
  }

  it('every probe fails and no secret appears in outputs, logs, events or history', async () => {
    const stackDir = join(repo.work, 'stacks', 'probe');
    mkdirSync(join(repo.work, 'stacks'), { recursive: true });
    const isolationRoot = processIsolation(tofu).root;
    const variables = {
      worker_pid: String(proc!.child.pid), worker_dir: proc!.workDir, state_dir: h.testStateDir(),
      other_job_dir: otherJob.dir, sandbox_root: isolationRoot,
    };
    const spec = { name: 'probe', requires: { features: ['terraform'], labels: { suite: label } }, variables, autoDeploy: false };
    copyFixture(join(FIXTURES, 'probe'), stackDir, { 'stack.hcl': stackHcl(spec) });
    const commit = repo.commit('a hostile stack');
    const ids = await registerStack(s, { ...spec, account: 'acme', repoUrl: repo.url, repoPath: 'stacks/probe', commit });
    const handle = await startRun(s, ids);
    await waitForPhase(handle, ['awaiting_approval'], 300_000);
    await decide(s, handle, { by: 'alice' });
    const result = (await handle.result()) as RunProgress;
    assert.equal(result.phase, 'succeeded', result.error);

    // Plan time: every read failed (a listing that saw nothing counts as failed too).
    const probes = result.outputs!.probes!.value as Record<string, string>;
    for (const [what, v] of Object.entries(probes)) assert.ok(v === 'DENIED' || v === '0' || v === 'ABSENT', `plan-time probe ${what}: ${v.slice(0, 80)}`);

    // Apply time: the local-exec ran as a job uid, and each attempt printed PROBE-DENIED.
    const { logs, all } = await everythingWritten(handle, result);
    const uid = /PROBE-ID (\d+)/.exec(logs)?.[1];
    assert.ok(uid && Number(uid) >= 200000 && Number(uid) <= 200999, `the local-exec ran as a job uid (${uid})`);
    for (const what of ['worker environ', 'worker dir', 'git mirrors', 'service data', 'other job', 'sandbox listing', 'provider mirror', 'shared bin', 'cli config']) {
      assert.ok(logs.includes(`PROBE-DENIED ${what}`), `apply-time probe ${what} was denied`);
    }
    assert.doesNotMatch(logs, /\(local-exec\): PROBE-LEAK/, 'no attempt succeeded (the command line itself names PROBE-LEAK)');
    assert.equal(existsSync(join(isolationRoot, 'shared', 'providers', 'planted')), false);
    assert.equal(existsSync(join(isolationRoot, 'shared', 'bin', 'planted')), false);
    // The job's environment had no worker variable at all, and none of the secrets is anywhere.
    assert.doesNotMatch(logs, /^(VAULT_TOKEN|DATABASE_URL|S3_SECRET_ACCESS_KEY|S3_ACCESS_KEY_ID)=/m);
    for (const [name, value] of Object.entries(secrets)) assert.ok(!all.includes(value), `${name} leaked`);
    // The worker said at start how it isolates jobs.
    assert.match(readFileSync(proc!.logFile, 'utf8'), /execution isolation: uid/);
  });

});

describe('terraform_remote_state of another stack\'s state fails through tofu', function () {
  this.timeout(300_000);
  let tdb: TestDb;
  let repo: ReturnType<typeof makeRepo>;
  let s3: Awaited<ReturnType<typeof h.s3>>;
  let tofu: string;
  const victimSecret = `victim-${randomBytes(8).toString('hex')}`;
  before(async () => {
    [tdb, s3, tofu] = await Promise.all([createTestDb('isolation'), h.s3(), h.tofu()]);
    repo = makeRepo(h.testStateDir());
  });
  after(async () => { await tdb?.drop(); });

  it('terraform_remote_state of another stack\'s state fails: AccessDenied with the unit\'s credentials, none in the review', async () => {
    const victimKey = stateKey(stateKeyPrefix('other', randomUUID()), 'db');
    const state = {
      version: 4, terraform_version: '1.12.6', serial: 1, lineage: randomUUID(), resources: [], check_results: null,
      outputs: { secret: { value: victimSecret, type: 'string' } },
    };
    const client = s3Client(s3);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: victimKey, Body: JSON.stringify(state) }));
    client.destroy();
    const stackDir = join(repo.work, 'stacks', 'remote');
    mkdirSync(join(repo.work, 'stacks'), { recursive: true });
    copyFixture(join(FIXTURES, 'remote-state'), stackDir);
    const commit = repo.commit('reads another state');
    const { units } = await analyzeStackDir(stackDir);
    const stateId = randomUUID();
    const input = {
      source: { repoUrl: repo.url, commit, stackPath: 'stacks/remote' },
      run: { account: 'acme', stack: 'remote', state: 'test', stateId, statePrefix: stateKeyPrefix('acme', stateId), runId: `remote-${Date.now()}` },
      units, variables: { victim_key: victimKey, endpoint: s3.endpoint, bucket: s3.bucket },
    };
    const work = mkdtempSync(join(h.testStateDir(), 'remote-'));
    const acts = createTerraformActivities({
      db: tdb.db, s3, tfBinary: tofu, workDir: work, workerId: 'w-remote', incarnation: 'w-remote-1',
      logger: createLogger('test', 'silent'), cipher: { encrypt: async (b) => b, decrypt: async (b) => b }, heartbeatMs: 500,
    });
    const noLeak = (e: Error) => { assert.ok(!e.message.includes(victimSecret), 'the victim\'s value is not in the error'); return true; };
    // The review plan's job has no S3 credentials at all (local state, merged by the worker).
    await assert.rejects(acts.planReview(input), (e: Error) => noLeak(e) && /credential|terraform_remote_state|victim|Error/i.test(e.message));
    // The unit plan has credentials for its own state key only.
    const unit = units.units[0]!.name;
    await assert.rejects(acts.planUnit({ ...input, unit, inputs: {} }), (e: Error) => {
      noLeak(e);
      assert.match(e.message, /AccessDenied|403|Access Denied/, e.message.slice(-1500));
      return true;
    });
  });

  it('the hostile stack through the tofu activities (this process as the worker): every probe denied, the S3 secret nowhere', async () => {
    const other = await processIsolation(tofu).openJob('other');
    const otherSecret = `other-job-${randomBytes(8).toString('hex')}`;
    other.writeFile(join(other.dir, 'secret'), otherSecret);
    await other.handOver();
    const work = mkdtempSync(join(tmpdir(), 'stackly-probe-'));
    chmodSync(work, 0o711);
    try {
      const stackDir = join(repo.work, 'stacks', 'probe');
      mkdirSync(join(repo.work, 'stacks'), { recursive: true });
      copyFixture(join(FIXTURES, 'probe'), stackDir);
      const commit = repo.commit('a hostile stack');
      const { units } = await analyzeStackDir(stackDir);
      const stateId = randomUUID();
      const workDir = join(work, 'worker');
      const variables = { worker_pid: String(process.pid), worker_dir: workDir, state_dir: h.testStateDir(), other_job_dir: other.dir, sandbox_root: processIsolation(tofu).root };
      const input = {
        source: { repoUrl: repo.url, commit, stackPath: 'stacks/probe' },
        run: { account: 'acme', stack: 'probe', state: 'test', stateId, statePrefix: stateKeyPrefix('acme', stateId), runId: `probe-${Date.now()}` },
        units, variables,
      };
      const acts = createTerraformActivities({
        db: tdb.db, s3, tfBinary: tofu, workDir, workerId: 'w-probe', incarnation: 'w-probe-1',
        logger: createLogger('test', 'silent'), cipher: { encrypt: async (b) => b, decrypt: async (b) => b }, heartbeatMs: 500,
      });
      const review = await acts.planReview(input);
      assert.equal(review.counts.add, 1);
      const unit = units.units[0]!.name;
      const plan = await acts.planUnit({ ...input, unit, inputs: {} });
      const applied = await acts.applyUnit({ ...input, unit, inputs: {}, planKey: plan.planKey });
      const client = s3Client(s3);
      const log = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: applied.logKey }))).Body!.transformToString();
      client.destroy();
      const uid = /PROBE-ID (\d+)/.exec(log)?.[1];
      assert.ok(uid && Number(uid) >= 200000 && Number(uid) <= 200999, `the local-exec ran as a job uid (${uid})`);
      for (const what of ['worker environ', 'worker dir', 'git mirrors', 'service data', 'other job', 'sandbox listing', 'provider mirror', 'shared bin', 'cli config']) {
        assert.ok(log.includes(`PROBE-DENIED ${what}`), `apply-time probe ${what} was denied`);
      }
      assert.doesNotMatch(log, /\(local-exec\): PROBE-LEAK/, 'no attempt succeeded (the command line itself names PROBE-LEAK)');
      assert.doesNotMatch(log, /^.*: (S3_SECRET_ACCESS_KEY|VAULT_TOKEN|DATABASE_URL)=/m);
      for (const v of [s3.secretAccessKey, otherSecret]) assert.ok(!log.includes(v) && !JSON.stringify([review, plan, applied]).includes(v), 'no secret in the log or results');
    } finally {
      await other.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
