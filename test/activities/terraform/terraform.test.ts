/**
 * The Terraform activities against real MinIO, Vault Transit, Postgres and tofu: review plan over
 * merged unit states, unit plan/apply in the scheduler's order with outputs wired between units,
 * saved plans applied by another worker, cancellation, lock ownership, log redaction.
 *
 * The stacks are in test/fixtures/stacks/repo, committed into a temporary git repository here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CancelledFailure } from '@temporalio/common';
import { createVaultKeyring, ensureNamespaceKey } from '../../../common/codec';
import { createLogger } from '../../../common/logger';
import { heartbeatWorker, registerWorker } from '../../../db/repos/workers';
import { listRunLogChunks } from '../../../db/repos/run-log-chunks';
import { analyzeStackDir } from '../../../activities/hcl/analyze';
import { synthesize, OUTPUTS_ROOT } from '../../../activities/hcl/synthesize';
import { stateKey, stateKeyPrefix } from '../../../common/state-keys';
import { blobCipherFromKeyring, createTerraformActivities, logKeyOf, readStateLock, type BlobCipher, type TerraformActivityDeps } from '../../../activities/terraform';
import type { ActivityCtx } from '../../../activities/terraform/tofu';
import { getObject, lockClaimKey, lockKey } from '../../../activities/terraform/store';
import { resolveRefs } from '../../../activities/terraform/output-refs';
import type { TerraformActivities } from '../../../workflows/model/activities';
import type { RunRef, StackSource, TerraformBase, UnitOutput } from '../../../workflows/model/terraform';
import type { UnitGraph } from '../../../workflows/graph-types';
import { s3Client, type S3Settings } from '../../../scripts/services/minio';
import { createTestDb, type TestDb } from '../../harness/db';
import { s3, tofu, vault } from '../../harness/services';

const FIXTURE = join(__dirname, '..', '..', 'fixtures', 'stacks', 'repo');
const SECRET = `tok-${randomBytes(6).toString('hex')}`;

function localCipher(key: Buffer): BlobCipher {
  return {
    async encrypt(plain) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      return Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]);
    },
    async decrypt(sealed) {
      const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
    },
  };
}

describe('terraform activities (real tofu, MinIO, Vault)', function () {
  this.timeout(600_000);
  let work: string;
  let repoUrl: string;
  let commit: string;
  let settings: S3Settings;
  let client: S3Client;
  let cipher: BlobCipher;
  let tdb: TestDb;
  let bin: string;
  const logger = createLogger('test', 'silent');
  const account = `acct${randomBytes(3).toString('hex')}`;
  /** One state id per stack of the fixture: its objects live under `<account>/<id>/`. */
  const stateIds: Record<string, string> = {};
  const prefixOf = (stack: string): string => stateKeyPrefix(account, stateIds[stack] ??= randomUUID());

  const activities = (workerId: string, extra: { activityCtx?: () => ActivityCtx; graceMs?: number; incarnation?: string; notifyApplying?: TerraformActivityDeps['notifyApplying'] } = {}): TerraformActivities =>
    createTerraformActivities({ db: tdb.db, s3: settings, tfBinary: bin, workDir: join(work, workerId), workerId, incarnation: `${workerId}-1`, logger, cipher, heartbeatMs: 500, namespace: 'ns-test', ...extra });

  const exists = (key: string): Promise<boolean> =>
    client.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key })).then(() => true, () => false);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stackly-tf-'));
    const repo = join(work, 'repo');
    cpSync(FIXTURE, repo, { recursive: true });
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).toString().trim();
    git('init', '--quiet', '-b', 'main');
    git('add', '.');
    git('commit', '--quiet', '-m', 'stacks');
    commit = git('rev-parse', 'HEAD');
    repoUrl = `file://${repo}`;
    [settings, bin] = await Promise.all([s3(), tofu()]);
    client = s3Client(settings);
    // Vault Transit is exercised in its own suite below (its binary may still be building); the flow
    // here uses a local AES-GCM cipher of the same interface.
    cipher = localCipher(randomBytes(32));
    tdb = await createTestDb('terraform');
  });
  after(async () => {
    client?.destroy();
    await tdb?.drop();
    if (work && process.env.KEEP_TEST_STATE !== '1') rmSync(work, { recursive: true, force: true });
  });

  async function base(stack: string, variables: Record<string, unknown>, runId: string): Promise<TerraformBase & { units: UnitGraph }> {
    const { units } = await analyzeStackDir(join(FIXTURE, 'stacks', stack));
    const source: StackSource = { repoUrl, commit, stackPath: `stacks/${stack}` };
    const run: RunRef = { account, stack, state: 'test', stateId: (prefixOf(stack), stateIds[stack]!), statePrefix: prefixOf(stack), runId };
    return { source, run, units, variables };
  }

  describe('a small stack, unit by unit', () => {
    const vars = { prefix: 'it', token: SECRET };
    let a: TerraformActivities;
    let b: TerraformActivities;
    before(async () => {
      a = activities('worker-a');
      b = activities('worker-b');
      await registerWorker(tdb.db, { id: 'worker-a', kind: 'execution', taskQueue: 'q', capabilities: { features: [], labels: {}, resources: {}, version: '0' } as never, host: 'h', pid: 1 });
    });

    it('reviews, plans and applies every unit, then plans no changes', async () => {
      const input = await base('small', vars, 'run-1');
      const names = input.units.units.map((u) => u.name);
      assert.equal(names.length, 3, `units: ${names.join(',')}`);

      // 1. Review plan on fresh state: everything is created, downstream values unknown.
      const review = await a.planReview(input);
      assert.deepEqual(review.counts, { add: 3, change: 0, destroy: 0, replace: 0 });
      const root = review.changes.find((c) => c.address === 'terraform_data.root')!;
      assert.deepEqual(root.actions, ['create']);
      assert.equal((root.afterUnknown as { input?: boolean }).input, true, 'the root resource input is known only after apply');
      const net = review.changes.find((c) => c.address === 'module.net.terraform_data.this')!;
      assert.equal((net.after as { input: string }).input, 'it', 'a value known at review');
      const planJson = await getObject(client, settings.bucket, review.planJsonKey);
      assert.ok(planJson && !planJson.toString('latin1').includes('"resource_changes"'), 'the review plan JSON is stored encrypted');
      assert.ok((await cipher.decrypt(planJson)).toString().includes('"resource_changes"'));

      // 2. Units in topological order; outputs flow through the synthesis wiring; apply alternates workers.
      const produced = new Map<string, Record<string, UnitOutput>>();
      const analysis = await analyzeStackDir(join(FIXTURE, 'stacks', 'small'));
      const syn = synthesize({ ...analysis, repoRoot: FIXTURE, stackRoot: join(FIXTURE, 'stacks', 'small'), unitsDir: join(work, 'u'), backend: { type: 'none' } });
      const inputsOf = (unit: string): Record<string, unknown> => {
        const w = unit === OUTPUTS_ROOT ? syn.wiring.outputs : syn.wiring.units.find((x) => x.unit === unit)!;
        return Object.fromEntries(w.inputs.map((i) => [i.variable, produced.get(i.fromUnit)![i.output]!.value]));
      };
      const timings: Record<string, number> = {};
      for (const [i, unit] of [...names, OUTPUTS_ROOT].entries()) {
        const t0 = Date.now();
        const plan = await a.planUnit({ ...input, unit, inputs: inputsOf(unit) });
        assert.equal(plan.hasChanges, true, `${unit} has changes`);
        assert.equal(plan.outputs, undefined);
        const applier = i % 2 === 0 ? b : a; // the saved plan applies on another worker's work dir
        const applied = await applier.applyUnit({ ...input, unit, inputs: inputsOf(unit), planKey: plan.planKey });
        timings[unit] = Date.now() - t0;
        produced.set(unit, applied.outputs);
        assert.ok(await exists(stateKey(prefixOf('small'), unit)), `state object of ${unit}`);
      }
      assert.equal(produced.get(OUTPUTS_ROOT)!.final!.value, 'it-echo-app-echo');
      process.stdout.write(`      plan+apply per unit (ms): ${JSON.stringify(timings)}\n`);

      // 3. The log of the root unit's apply has the secret redacted.
      const rootUnit = input.units.units.find((u) => u.kind !== 'module')!.name;
      const openLog = async (run: string, u: string, phase: string) => {
        const sealed = await getObject(client, settings.bucket, logKeyOf(run, u, phase));
        return sealed && (await cipher.decrypt(sealed)).toString();
      };
      const log = (await openLog('run-1', rootUnit, 'apply'))!;
      assert.ok(!(await getObject(client, settings.bucket, logKeyOf('run-1', rootUnit, 'apply')))!.toString('latin1').includes('stackly-token'), 'sealed in S3');
      assert.match(log, /stackly-token=\(sensitive\)/);
      assert.ok(!log.includes(SECRET), 'no sensitive value in the log');
      for (const u of names) {
        const l = await openLog('run-1', u, 'plan');
        assert.ok(l && !l.includes(SECRET));
      }
      // The live log chunks of the run: the same redacted text, phase by phase, sealed at rest.
      const rows = await listRunLogChunks(tdb.db, 'ns-test', 'run-1', { limit: 10_000 });
      assert.ok(rows.length > 0, 'live chunks were stored');
      const live = (await Promise.all(rows.map(async (r) => (await cipher.decrypt(r.text_enc)).toString()))).join('');
      assert.ok(!live.includes(SECRET), 'no sensitive value in the live log');
      assert.match(live, /stackly-token=\(sensitive\)/);
      assert.ok(rows.every((r) => !r.text_enc.toString('latin1').includes('stackly-token')), 'chunks sealed at rest');
      const phases = new Set(rows.filter((r) => r.unit === rootUnit).map((r) => r.phase));
      for (const ph of ['init', 'plan', 'apply']) assert.ok(phases.has(ph), `${ph} in ${[...phases].join(', ')}`);

      // 4. A second review shows no changes; a unit plan has none and returns the current outputs.
      const again = await b.planReview({ ...input, run: { ...input.run, runId: 'run-2' } });
      assert.deepEqual(again.counts, { add: 0, change: 0, destroy: 0, replace: 0 });
      assert.ok(again.changes.every((c) => c.actions.join() === 'no-op'), JSON.stringify(again.changes.map((c) => [c.address, c.actions])));
      const unit0 = names[0]!;
      const p2 = await a.planUnit({ ...input, run: { ...input.run, runId: 'run-2' }, unit: unit0, inputs: inputsOf(unit0) });
      assert.equal(p2.hasChanges, false);
      // Sensitive outputs travel as references (issue 15), a new one per plan: compare what they hold.
      const store = { cipher, put: async () => undefined, get: (k: string) => getObject(client, settings.bucket, k) };
      const values = async (o: Record<string, UnitOutput> | undefined) => resolveRefs(store, Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, v.value])));
      assert.deepEqual(Object.keys(p2.outputs ?? {}).sort(), Object.keys(produced.get(unit0) ?? {}).sort());
      assert.deepEqual(await values(p2.outputs), await values(produced.get(unit0)));
    });

    it('planApplyUnit applies a plan that fits in the same job; one that does not fit is saved and returned, nothing applied', async () => {
      const given = await base('small', vars, 'run-pa');
      // A state of its own: the other tests' units are applied already.
      const input = { ...given, run: { ...given.run, statePrefix: stateKeyPrefix(account, randomUUID()) } };
      const unit = input.units.units.map((u) => u.name)[0]!;
      const review = await a.planReview(input);
      const told: unknown[] = [];
      const w = activities('worker-pa', { notifyApplying: async (runId, p) => { told.push({ runId, ...p }); } });

      // Nothing approved for it: the plan does not fit; saved for an applyUnit after a human's approval.
      const refused = await w.planApplyUnit({ ...input, unit, inputs: {}, approved: [], attempt: 1 });
      assert.equal(refused.applied, undefined);
      assert.equal(refused.plan.hasChanges, true);
      assert.ok(refused.problems?.length && refused.problems.every((x) => /was not in the reviewed plan/.test(x.reason)), JSON.stringify(refused.problems));
      assert.ok(refused.plan.planKey && await exists(refused.plan.planKey), 'the plan is saved');
      assert.deepEqual(told, [], 'not applying');
      assert.equal(await exists(stateKey(input.run.statePrefix, unit)), false, 'nothing applied');

      // The review's changes: fits, applied by the same job; the run was told before tofu applied.
      const done = await w.planApplyUnit({ ...input, unit, inputs: {}, approved: review.changes, attempt: 1 });
      assert.ok(done.applied, JSON.stringify(done.problems));
      assert.equal(done.problems, undefined);
      assert.equal(done.plan.planKey, '', 'an applied plan never leaves its job');
      assert.deepEqual(told, [{ runId: 'run-pa', unit, attempt: 1, counts: done.plan.counts }]);
      assert.ok(await exists(stateKey(input.run.statePrefix, unit)), 'applied');
      assert.ok(Object.keys(done.applied.outputs).length > 0, 'outputs of the apply');
      const logOf = async (phase: string) => (await cipher.decrypt((await getObject(client, settings.bucket, logKeyOf('run-pa', unit, phase)))!)).toString();
      const [planLog, applyLog] = [await logOf('plan'), await logOf('apply')];
      assert.match(planLog, /^=== plan /m);
      assert.doesNotMatch(planLog, /^=== apply /m);
      assert.match(applyLog, /^=== apply /m);
      assert.doesNotMatch(applyLog, /^=== (init|plan) /m, 'one init, in the plan part');

      // Planned again: no changes, nothing applied, the current outputs.
      const again = await w.planApplyUnit({ ...input, unit, inputs: {}, approved: review.changes, attempt: 1 });
      assert.equal(again.plan.hasChanges, false);
      assert.equal(again.applied, undefined);
      assert.deepEqual(Object.keys(again.plan.outputs ?? {}).sort(), Object.keys(done.applied.outputs).sort());
      assert.equal(told.length, 1);
    });

    it('breaks the lock of a dead worker, and refuses to break a live one (claims without an incarnation: by worker id)', async () => {
      const input = await base('small', vars, 'run-3');
      const unit = input.units.units[0]!.name;
      const key = stateKey(prefixOf('small'), unit);
      const fakeLock = (id: string) => JSON.stringify({ ID: id, Operation: 'OperationTypeApply', Info: '', Who: 'x@y', Version: '1.12.6', Created: new Date().toISOString(), Path: `${settings.bucket}/${key}` });
      const put = (k: string, body: string) => client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: k, Body: body }));

      // Held by worker-a, which is alive: a retryable StateLocked naming it.
      await put(lockKey(key), fakeLock('11111111-1111-1111-1111-111111111111'));
      await put(lockClaimKey(key), JSON.stringify({ lockId: '11111111-1111-1111-1111-111111111111', workerId: 'worker-a', runId: 'run-0', unit, phase: 'apply', claimedAt: new Date().toISOString() }));
      const lock = await readStateLock(client, settings.bucket, key);
      assert.equal(lock?.holder?.workerId, 'worker-a');
      await heartbeatWorker(tdb.db, 'worker-a'); // alive now, however long the test before took
      await assert.rejects(b.planUnit({ ...input, unit, inputs: {} }), (e: Error & { type?: string; nonRetryable?: boolean }) => {
        assert.equal(e.type, 'StateLocked');
        assert.equal(e.nonRetryable, false);
        assert.match(e.message, /worker worker-a .*alive/);
        return true;
      });
      assert.ok(await exists(lockKey(key)), 'a live holder keeps its lock');

      // Held by a worker that never registered (dead): broken, and the plan goes on.
      await put(lockClaimKey(key), JSON.stringify({ lockId: '11111111-1111-1111-1111-111111111111', workerId: 'worker-dead', runId: 'run-0', unit, phase: 'apply', claimedAt: new Date().toISOString() }));
      const plan = await b.planUnit({ ...input, unit, inputs: {} });
      assert.equal(plan.hasChanges, false);
      assert.equal(await exists(lockKey(key)), false);
    });

    it('by incarnation: a lock of an earlier process under the same worker id is broken by the retry; the live process\'s never is', async () => {
      const input = await base('small', vars, 'run-4');
      const unit = input.units.units[0]!.name;
      const key = stateKey(prefixOf('small'), unit);
      const put = (k: string, body: string) => client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: k, Body: body }));
      const lockId = randomUUID();
      const hold = async (incarnation: string, workerId = 'worker-r') => {
        await put(lockKey(key), JSON.stringify({ ID: lockId, Operation: 'OperationTypeApply', Info: '', Who: 'x@y', Version: '1.12.6', Created: new Date().toISOString(), Path: `${settings.bucket}/${key}` }));
        await put(lockClaimKey(key), JSON.stringify({ lockId, workerId, incarnation, runId: 'run-0', unit, phase: 'apply', claimedAt: new Date().toISOString() }));
      };
      // worker-r restarted: its row now carries the new process's incarnation, and it heartbeats.
      const caps = { features: [], labels: {}, resources: {}, version: '0' };
      await registerWorker(tdb.db, { id: 'worker-r', kind: 'execution', taskQueue: 'q', capabilities: caps, host: 'h', pid: 2, incarnation: 'r-new' });
      const restarted = activities('worker-r', { incarnation: 'r-new' });

      // 1. Claimed by the live incarnation (this very process, or another process holding it): never broken.
      await hold('r-new');
      assert.equal((await readStateLock(client, settings.bucket, key))?.holder?.incarnation, 'r-new');
      for (const acts of [restarted, b]) {
        await assert.rejects(acts.planUnit({ ...input, unit, inputs: {} }), (e: Error & { type?: string; nonRetryable?: boolean }) => {
          assert.equal(e.type, 'StateLocked');
          assert.equal(e.nonRetryable, false);
          assert.match(e.message, /locked by worker worker-r.*\(run run-0, apply of unit .*\), which is alive/);
          return true;
        });
        assert.equal((await readStateLock(client, settings.bucket, key))?.id, lockId, 'the live holder keeps its lock');
      }

      // 2. Claimed by the process before it (same worker id, another incarnation): dead, broken, the plan goes on.
      await hold('r-old');
      const plan = await restarted.planUnit({ ...input, unit, inputs: {} });
      assert.equal(plan.hasChanges, false);
      assert.equal(await exists(lockKey(key)), false, 'the dead incarnation\'s lock is gone');
      assert.equal(await exists(lockClaimKey(key)), false, 'and its claim');
      const log = (await cipher.decrypt((await getObject(client, settings.bucket, logKeyOf('run-4', unit, 'plan')))!)).toString();
      assert.match(log, /the state lock of a dead worker was released/);

      // 3. The same incarnation, but stopped (a clean shutdown that left a lock): dead too.
      await hold('r-new');
      await tdb.db.updateTable('workers').set({ stopped_at: new Date() }).where('id', '=', 'worker-r').execute();
      assert.equal((await b.planUnit({ ...input, unit, inputs: {} })).hasChanges, false);
      assert.equal(await exists(lockKey(key)), false);
    });

    it('the claims it writes name the worker process (id and incarnation)', async () => {
      // A state of its own (the cancellation test below needs the slow resource not created yet).
      const stateId = randomUUID();
      const slow = await base('slow', { seconds: 6 }, 'run-claim');
      const input = { ...slow, run: { ...slow.run, stateId, statePrefix: stateKeyPrefix(account, stateId) } };
      const unit = input.units.units[0]!.name;
      const key = stateKey(input.run.statePrefix, unit);
      const w = activities('worker-claim', { incarnation: 'claim-inc-1' });
      const plan = await w.planUnit({ ...input, unit, inputs: {} });
      const applying = w.applyUnit({ ...input, unit, inputs: {}, planKey: plan.planKey });
      let lock;
      for (let i = 0; i < 60 && !lock?.holder; i++) {
        await new Promise((r) => setTimeout(r, 250));
        lock = await readStateLock(client, settings.bucket, key);
      }
      assert.deepEqual({ ...lock?.holder, claimedAt: undefined }, { workerId: 'worker-claim', incarnation: 'claim-inc-1', runId: 'run-claim', unit, phase: 'apply', claimedAt: undefined });
      await applying;
      assert.equal(await exists(lockKey(key)), false, 'released after the apply');
      assert.equal(await exists(lockClaimKey(key)), false, 'the claim is dropped with it');
    });
  });

  describe('cancellation', () => {
    it('interrupts a long apply, releases the lock, records the holder while it runs', async () => {
      const input = await base('slow', { seconds: 120 }, 'run-slow');
      const unit = input.units.units[0]!.name;
      const key = stateKey(prefixOf('slow'), unit);
      const plan = await activities('worker-c').planUnit({ ...input, unit, inputs: {} });
      assert.equal(plan.hasChanges, true);

      const ac = new AbortController();
      const beats: unknown[] = [];
      const c = activities('worker-c', { activityCtx: () => ({ heartbeat: (d) => beats.push(d), signal: ac.signal }), graceMs: 20_000 });
      const t0 = Date.now();
      const applying = c.applyUnit({ ...input, unit, inputs: {}, planKey: plan.planKey });
      // While tofu sleeps in local-exec: the lock exists and names this worker and run.
      let lock;
      for (let i = 0; i < 60 && !lock?.holder; i++) {
        await new Promise((r) => setTimeout(r, 500));
        lock = await readStateLock(client, settings.bucket, key);
      }
      assert.equal(lock?.holder?.workerId, 'worker-c');
      assert.equal(lock?.holder?.runId, 'run-slow');
      assert.equal(lock?.operation, 'OperationTypeApply');
      process.stdout.write(`      tofu lock Who: ${lock?.who}\n`);
      ac.abort();
      await assert.rejects(applying, (e: Error) => e instanceof CancelledFailure);
      const stopped = Date.now() - t0;
      assert.ok(stopped < 60_000, `stopped after ${stopped} ms`);
      assert.equal(await exists(lockKey(key)), false, 'the lock is released');
      assert.ok(beats.length >= 2, 'heartbeats while tofu ran');
      assert.ok(beats.some((b) => (b as { phase?: string }).phase === 'apply'));
      const log = (await cipher.decrypt((await getObject(client, settings.bucket, logKeyOf('run-slow', unit, 'apply')))!)).toString();
      assert.match(log, /interrupting tofu/);
    });
  });

  describe('plans encrypted with Vault Transit', () => {
    it('round-trips a blob and stores the review plan JSON sealed', async () => {
      const v = await vault();
      await ensureNamespaceKey({ vaultAddr: v.addr, vaultToken: v.token, namespace: 'stackly-test' });
      const vc = blobCipherFromKeyring(createVaultKeyring({ vaultAddr: v.addr, vaultToken: v.token }), 'stackly-test');
      const blob = randomBytes(5000);
      const sealed = await vc.encrypt(blob);
      assert.ok(!sealed.includes(blob.subarray(0, 64)));
      assert.deepEqual(await vc.decrypt(sealed), blob);
      const acts = createTerraformActivities({ db: tdb.db, s3: settings, tfBinary: bin, workDir: join(work, 'worker-v'), workerId: 'worker-v', incarnation: 'v-1', logger, cipher: vc });
      const review = await acts.planReview(await base('small', { token: 'x' }, 'run-vault'));
      const stored = (await getObject(client, settings.bucket, review.planJsonKey))!;
      assert.ok(!stored.toString('latin1').includes('resource_changes'));
      assert.match((await vc.decrypt(stored)).toString(), /"resource_changes"/);
    });
  });

  describe('bad input', () => {
    it('fails a unit plan with an unknown unit non-retryably', async () => {
      const input = await base('small', { token: 'x' }, 'run-bad');
      await assert.rejects(activities('worker-a').planUnit({ ...input, unit: 'nope', inputs: {} }), (e: Error & { type?: string; nonRetryable?: boolean }) => e.type === 'UnknownUnit' && e.nonRetryable === true);
    });
  });
});
