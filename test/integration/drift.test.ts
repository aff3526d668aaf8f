/**
 * Drift detection end to end (issue 16): signed push deliveries to the api, the real pushWorkflow
 * (whose registry step keeps the drift schedules), real Temporal Schedules (listed by the Temporal
 * CLI, triggered through their handle), drift checks in the state's queue planning with tofu on an
 * execution worker against MinIO, and the remediation run. Drift is made with tofu's own command:
 * `tofu state rm` of one address in the unit's state object, as someone working outside Stackly would.
 */
import assert from 'node:assert/strict';
import { fixedClients } from '../../common/temporal';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { waitForRunStarted } from '../../activities/run-requests';
import { CachingSecretBox, VaultTransitSecretBox } from '../../common/secret-box';
import { createLogger } from '../../common/logger';
import { s3Client } from '../../common/s3';
import { stateKey } from '../../common/state-keys';
import { ensureAccount } from '../../db/repos/accounts';
import { driftScheduleId, pushWorkflowId, type RunProgress } from '../../workflows/definitions';
import type { DriftReport } from '../../workflows/model/drift';
import type { PushResult } from '../../workflows/push';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { runResult as harnessRunResult, startStackly, type Stackly } from '../harness/stackly';
import { deliver, GitRepo, pushPayload } from './webhooks/helpers';

const AUTH = { authorization: '' };

describe('drift detection on Temporal Schedules (end to end)', function () {
  this.timeout(900_000);
  let s: Stackly;
  let api: FastifyInstance;
  let url: string;
  let label: string;
  let repo: GitRepo;
  const secret = 'secret-drift-0123456789abcdef';

  const stackHcl = (drift: string, autoDeploy = true) => `stack "net" {
  environment = "test"
  auto_deploy = ${autoDeploy}
  requires {
    features = ["terraform"]
    labels   = { suite = "${label}" }
  }
  state "prod" {}
${drift}}
`;
  const driftBlock = (cron: string, autoRemediate: boolean) => `  drift {\n    schedule       = "${cron}"\n    auto_remediate = ${autoRemediate}\n  }\n`;
  const mainTf = (tag: string) => `resource "terraform_data" "a" {\n  input = "a-${tag}"\n}\nresource "terraform_data" "b" {\n  input = "b-${tag}"\n}\n`;

  async function push(): Promise<PushResult> {
    const { before, after } = repo.push('main');
    const d = await deliver(url, pushPayload(repo, { before, after }), { secret });
    assert.equal(d.status, 202, JSON.stringify(d.body));
    return (await s.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result()) as PushResult;
  }
  const runResult = (runId: string) => harnessRunResult<RunProgress>(s.client, runId);
  async function apiCall(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await fetch(`${url}${path}`, {
      method, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: await r.json() };
  }
  const stateRow = () => s.t.db.selectFrom('stack_states').innerJoin('stack_codes', 'stack_codes.id', 'stack_states.stack_code_id')
    .selectAll('stack_states').where('stack_codes.repo_url', '=', repo.url).executeTakeFirstOrThrow();

  /** The ids of the suite's drift schedules as `temporal schedule list` prints them. */
  async function listedSchedules(): Promise<string[]> {
    const t = await h.temporal();
    const out = execFileSync(await h.tool('temporal'), ['schedule', 'list', '--address', t.address, '--namespace', t.namespace, '--output', 'json'], { encoding: 'utf8' });
    const rows = out.trim() === '' ? [] : (JSON.parse(out) as Array<{ scheduleId?: string; schedule_id?: string }>);
    return rows.map((r) => r.scheduleId ?? r.schedule_id ?? '').filter((id) => id.startsWith('drift-'));
  }
  const scheduleExists = async (id: string): Promise<boolean> => {
    try {
      await s.client.schedule.getHandle(id).describe();
      return true;
    } catch (e) {
      if (e instanceof ScheduleNotFoundError) return false;
      throw e;
    }
  };

  /** Runs `tofu state rm ADDRESS` against a unit's state object, as an operator would by hand. */
  async function tofuStateRm(prefix: string, unit: string, address: string): Promise<void> {
    const s3 = await h.s3();
    const dir = mkdtempSync(join(h.testStateDir(), 'oob-'));
    writeFileSync(join(dir, 'main.tf'), 'terraform {\n  backend "s3" {}\n}\n');
    writeFileSync(join(dir, 'cli.tfrc'), '');
    writeFileSync(join(dir, 'backend.tfbackend'), [
      `bucket = "${s3.bucket}"`, `key = "${stateKey(prefix, unit)}"`, `region = "${s3.region}"`, `endpoints = { s3 = "${s3.endpoint}" }`,
      'use_path_style = true', 'use_lockfile = true', 'skip_credentials_validation = true', 'skip_requesting_account_id = true',
      'skip_metadata_api_check = true', 'skip_region_validation = true', '',
    ].join('\n'));
    const env = { PATH: process.env.PATH ?? '', HOME: dir, TF_CLI_CONFIG_FILE: join(dir, 'cli.tfrc'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const tofu = await h.tofu();
    execFileSync(tofu, ['init', '-input=false', '-no-color', '-backend-config=backend.tfbackend'], { cwd: dir, env, stdio: 'pipe' });
    execFileSync(tofu, ['state', 'rm', '-no-color', address], { cwd: dir, env, stdio: 'pipe' });
  }

  /** Triggers the state's schedule now and waits for the drift check it leads to; returns its operation. */
  async function triggerAndWait(stateId: string): Promise<{ report: DriftReport; status: string; workflowId: string }> {
    const before = new Date();
    await s.client.schedule.getHandle(driftScheduleId(stateId)).trigger();
    return waitForCheck(stateId, before);
  }
  async function waitForCheck(stateId: string, since: Date): Promise<{ report: DriftReport; status: string; workflowId: string }> {
    const deadline = Date.now() + 300_000;
    for (;;) {
      const op = await s.t.db.selectFrom('operations').selectAll().where('stack_state_id', '=', stateId).where('type', '=', 'drift')
        .where('started_at', '>=', since).orderBy('started_at', 'desc').executeTakeFirst();
      if (op && (op.status === 'succeeded' || op.status === 'failed')) {
        return { report: (op.metadata as { drift: DriftReport }).drift, status: op.status, workflowId: op.workflow_id! };
      }
      if (Date.now() > deadline) throw new Error(`no drift check of ${stateId} ended (last: ${op?.status ?? 'none'})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const driftEvents = (stateId: string) => s.t.db.selectFrom('events').select(['type', 'payload']).where('stack_state_id', '=', stateId)
    .where('type', 'in', ['drift_detected', 'drift_none', 'drift_failed']).orderBy('id').execute();

  before(async () => {
    s = await startStackly('drift');
    label = s.t.schema;
    const vault = await h.vault();
    const account = await ensureAccount(s.t.db, 'default', s.namespace);
    AUTH.authorization = (await createPrincipal(s.t.db, { accountId: account.id, login: 'tester', role: 'admin' })).auth.authorization;
    api = await buildApi({
      db: s.t.db, logger: createLogger('api-test', process.env.TEST_LOG_LEVEL ?? 'silent'), temporal: fixedClients(s.client), platformAccountId: account.id,
      webhookSecret: 'global-secret-not-used-here-0123', secretBox: new CachingSecretBox(new VaultTransitSecretBox({ addr: vault.addr, token: vault.token })),
      bodyLimitBytes: 1024 * 1024, temporalTimeoutMs: 10_000, taskQueue: s.taskQueue,
    });
    url = await api.listen({ host: '127.0.0.1', port: 0 });
    await s.startExecWorker('exec-drift', { suite: label });
    repo = new GitRepo('drift');
    const r = await fetch(`${url}/api/repositories`, {
      method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ url: repo.url, tracked_branch: 'main', webhook_secret: secret }),
    });
    assert.equal(r.status, 201, await r.text());
  });
  after(async () => {
    await api?.close();
    await s?.stop();
    repo?.cleanup();
  });

  let stateId: string;
  let prefix: string;

  it('a push with a drift block makes one schedule for the state, with its cron; a second push of the same stack leaves one', async () => {
    repo.write({ 'stacks/net/stack.hcl': stackHcl(driftBlock('17 3 1 1 *', true)), 'stacks/net/main.tf': mainTf('v1') }).commit('net with drift');
    const p = await push();
    assert.deepEqual(p.registered, ['stacks/net']);
    assert.equal((await runResult(p.runsStarted[0]!)).phase, 'succeeded');
    const st = await stateRow();
    stateId = st.id;
    prefix = st.tf_state_key;
    const id = driftScheduleId(stateId);
    assert.deepEqual((await listedSchedules()).filter((x) => x === id), [id], 'listed by the Temporal CLI');
    const d = await s.client.schedule.getHandle(id).describe();
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.policies.pauseOnFailure, false);
    assert.equal(d.policies.catchupWindow, 3_600_000);
    assert.equal(d.state.paused, false);
    const cal = JSON.stringify(d.spec);
    assert.match(cal, /17/, `the cron's minute in ${cal}`);
    assert.equal(d.action.type, 'startWorkflow');
    assert.equal(d.action.workflowType, 'driftScheduleWorkflow');

    // The same stack pushed again (a changed file) and the same delivery content re-sent: still one schedule.
    repo.write({ 'stacks/net/README.md': 'net\n' }).commit('docs');
    const p2 = await push();
    assert.deepEqual(p2.updated, ['stacks/net']);
    await Promise.all(p2.runsStarted.map(runResult));
    assert.deepEqual((await listedSchedules()).filter((x) => x === id), [id]);

    // A new cron reaches the schedule.
    repo.write({ 'stacks/net/stack.hcl': stackHcl(driftBlock('41 4 1 1 *', true)) }).commit('new cron');
    const p3 = await push();
    await Promise.all(p3.runsStarted.map(runResult));
    assert.match(JSON.stringify((await s.client.schedule.getHandle(id).describe()).spec), /41/);
  });

  it('a clean state: triggering the schedule runs a check that reports drift_none', async () => {
    const c = await triggerAndWait(stateId);
    assert.equal(c.status, 'succeeded');
    assert.equal(c.report.outcome, 'none');
    assert.deepEqual(c.report.resources, []);
    const events = await driftEvents(stateId);
    assert.equal(events.at(-1)!.type, 'drift_none');
  });

  it('a resource removed from the state out of band: the check reports exactly that address with its action, remediation restores it, the next check is clean', async () => {
    await tofuStateRm(prefix, 'root', 'terraform_data.b');
    const c = await triggerAndWait(stateId);
    assert.equal(c.report.outcome, 'drift', JSON.stringify(c.report));
    assert.deepEqual(c.report.resources, [{ unit: 'root', address: 'terraform_data.b', type: 'terraform_data', actions: ['create'] }]);
    const ev = (await driftEvents(stateId)).at(-1)!;
    assert.equal(ev.type, 'drift_detected');
    assert.deepEqual((ev.payload as { resources: unknown[] }).resources, [{ unit: 'root', address: 'terraform_data.b', type: 'terraform_data', actions: ['create'] }]);
    assert.doesNotMatch(JSON.stringify(ev.payload), /b-v1/, 'no attribute values in the event');

    // auto_remediate = true (and auto_deploy): a normal run of the deployed commit restores it.
    const runId = c.report.remediation?.runId;
    assert.ok(runId, JSON.stringify(c.report.remediation));
    assert.equal(c.report.remediation?.needsApproval, false);
    const run = await runResult(runId);
    assert.equal(run.phase, 'succeeded', run.error);
    assert.deepEqual(run.review?.changes, [{ address: 'terraform_data.b', actions: ['create'] }]);

    const again = await triggerAndWait(stateId);
    assert.equal(again.report.outcome, 'none', JSON.stringify(again.report));
  });

  it('a failing plan reports drift_failed with the reason, and the schedule goes on', async () => {
    const s3 = await h.s3();
    const client = s3Client(s3);
    const lock = `${stateKey(prefix, 'root')}.tflock`;
    // A human's tofu holds the unit's lock (no Stackly claim): a drift check never breaks it.
    await client.send(new PutObjectCommand({
      Bucket: s3.bucket, Key: lock, ContentType: 'application/json',
      Body: JSON.stringify({ ID: '6f1a2b3c-0000-4000-8000-000000000001', Operation: 'OperationTypeApply', Info: '', Who: 'bob@laptop', Version: '1.12.6', Created: new Date().toISOString(), Path: `${s3.bucket}/${stateKey(prefix, 'root')}` }),
    }));
    try {
      const c = await triggerAndWait(stateId);
      assert.equal(c.status, 'failed');
      assert.equal(c.report.outcome, 'failed');
      assert.match(c.report.reason ?? '', /locked/i);
      const ev = (await driftEvents(stateId)).at(-1)!;
      assert.equal(ev.type, 'drift_failed');
      assert.match(String((ev.payload as { reason?: string }).reason), /locked/i);
      const d = await s.client.schedule.getHandle(driftScheduleId(stateId)).describe();
      assert.equal(d.state.paused, false, 'the schedule goes on');
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: lock }));
    }
    const next = await triggerAndWait(stateId);
    assert.equal(next.report.outcome, 'none');
    // The lock was never taken over: the state object is as the last apply left it.
    const obj = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: stateKey(prefix, 'root') }));
    assert.match(await obj.Body!.transformToString(), /terraform_data/);
    client.destroy();
  });

  it('auto_remediate = false: the drift is recorded and the remediation run waits for approval', async () => {
    repo.write({ 'stacks/net/stack.hcl': stackHcl(driftBlock('41 4 1 1 *', false)) }).commit('no auto remediation');
    const p = await push();
    await Promise.all(p.runsStarted.map(runResult));
    await tofuStateRm(prefix, 'root', 'terraform_data.a');
    const c = await triggerAndWait(stateId);
    assert.deepEqual(c.report.resources.map((r) => [r.address, r.actions]), [['terraform_data.a', ['create']]]);
    assert.equal(c.report.remediation?.needsApproval, true);
    const runId = c.report.remediation!.runId!;
    assert.ok(await waitForRunStarted(s.client, runId, 30_000));
    const handle = s.client.workflow.getHandle(runId);
    let progress: RunProgress | undefined;
    for (let i = 0; i < 240; i++) {
      progress = await handle.query<RunProgress>('progress');
      if (progress.phase === 'awaiting_approval') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(progress?.phase, 'awaiting_approval');
    assert.match(progress?.waitingReason ?? '', /auto_remediate = false/);
    const res = await apiCall('POST', `/api/runs/${runId}/approve`, {});
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal((await runResult(runId)).phase, 'succeeded');
  });

  it('the api: POST /api/states/:id/drift checks now, GET lists checks newest first with their resources', async () => {
    const since = new Date();
    const posted = await apiCall('POST', `/api/states/${stateId}/drift`);
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.match(posted.body.run_id, /^run-drift-/);
    const c = await waitForCheck(stateId, since);
    assert.equal(c.report.outcome, 'none');
    const listed = await apiCall('GET', `/api/states/${stateId}/drift`);
    assert.equal(listed.status, 200);
    const items = listed.body.items as Array<{ workflow_id: string; outcome: string; resources: unknown[] }>;
    assert.equal(items[0]!.workflow_id, posted.body.run_id);
    assert.equal(items[0]!.outcome, 'none');
    assert.ok(items.some((i) => i.outcome === 'drift' && i.resources.length === 1));
    const state = await apiCall('GET', `/api/states/${stateId}`);
    assert.equal(state.body.last_drift_check.workflow_id, posted.body.run_id);
    assert.equal(state.body.drift_schedule.schedule_id, driftScheduleId(stateId));
  });

  it('the CLI: stackly drift check --wait exits 2 naming the drifted address, 0 when clean; drift show lists the checks', async () => {
    const cli = (args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', 'drift', ...args], {
        cwd: join(__dirname, '..', '..'),
        env: { PATH: process.env.PATH, HOME: process.env.HOME, STACKLY_API_URL: url, STACKLY_API_TOKEN: AUTH.authorization.replace(/^Bearer /, '') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
    // The stack now needs approval to remediate (previous test): a drift found is recorded, its run waits.
    await tofuStateRm(prefix, 'root', 'terraform_data.b');
    const found = await cli(['check', 'net', '--state', 'prod', '--wait']);
    assert.equal(found.code, 2, found.out + found.err);
    assert.match(found.out, /\+ terraform_data\.b\s+create\s+\(unit root\)/);
    assert.match(found.err, /drift found in net\/prod: terraform_data\.b/);
    const runId = /Remediation: run (\S+) waits for approval/.exec(found.out)?.[1];
    assert.ok(runId, found.out);
    // An approval counts only once the run asks for it (before, the api answers 409 run_not_waiting).
    for (let i = 0; i < 240; i++) {
      const res = await apiCall('POST', `/api/runs/${runId}/approve`, {});
      if (res.status === 202) break;
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'run_not_waiting', JSON.stringify(res.body));
      assert.ok(i < 239, 'the remediation run asked for approval');
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal((await runResult(runId)).phase, 'succeeded');
    const clean = await cli(['check', 'net', '--state', 'prod', '--wait']);
    assert.equal(clean.code, 0, clean.out + clean.err);
    assert.match(clean.out, /no drift/);
    const shown = await cli(['show', 'net', '--state', 'prod']);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^Last check run-drift-\S+ .*no drift/m);
    assert.match(shown.out, /Earlier checks:[\s\S]*drift \(1\)/);
  });

  it('removing the drift block deletes the schedule; removing the stack leaves none', async () => {
    repo.write({ 'stacks/net/stack.hcl': stackHcl('') }).commit('no drift');
    const p = await push();
    await Promise.all(p.runsStarted.map(runResult));
    assert.equal(await scheduleExists(driftScheduleId(stateId)), false);
    assert.deepEqual((await listedSchedules()).filter((x) => x === driftScheduleId(stateId)), []);

    // Back again, then the stack removed: its (now loose) state has no schedule.
    repo.write({ 'stacks/net/stack.hcl': stackHcl(driftBlock('41 4 1 1 *', true)) }).commit('drift again');
    const p2 = await push();
    await Promise.all(p2.runsStarted.map(runResult));
    assert.equal(await scheduleExists(driftScheduleId(stateId)), true);
    repo.rm('stacks/net');
    repo.commit('remove net');
    const p3 = await push();
    assert.deepEqual(p3.deregistered, ['stacks/net']);
    assert.equal(await scheduleExists(driftScheduleId(stateId)), false);
  });
});
