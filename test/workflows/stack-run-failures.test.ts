/**
 * StackRunWorkflow when things go wrong, on real Temporal, Postgres, MinIO, Vault and tofu:
 *
 * - a unit whose apply fails stops its dependants, independent branches complete, and the run says
 *   exactly which units failed and why (result, progress query, operation and events);
 * - an upstream output that was known at review but comes out different at apply (a release id
 *   stamped with plantimestamp()) makes the dependant ask for approval of the difference, with the
 *   address and the reason, while independent units go on; approving it finishes the run;
 * - an execution worker, a separate OS process, SIGKILLed in the middle of a unit's apply: a second
 *   matching worker re-plans the unit, finds the state lock held by the dead worker, breaks it,
 *   applies the plan (it still fits the review) and the run finishes without a human;
 * - the same, but the worker is restarted under the same WORKER_ID (as scripts/dev and systemd do)
 *   and no other worker exists: the new process is another incarnation, so it breaks the lock its
 *   predecessor left; the provisioner killed with the worker never finishes behind its back (tofu's
 *   children die with the worker), so every provisioner that completed did so exactly once.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stateKey } from '../../common/state-keys';
import { logKeyOf } from '../../activities/terraform';
import { getObject, readStateLock } from '../../activities/terraform/store';
import { s3Client } from '../../scripts/services';
import { progressQuery, type RunProgress } from '../../workflows/definitions';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';
import {
  decide, registerStack, spawnExecWorkerProcess, stackHcl, startRun, waitForPhase, waitForProgress, type StackIds, type WorkerProcess,
} from './helpers';

/** A unit made of one terraform_data, with a local-exec command (timing, failure) at create. */
const STEP_MODULE = `variable "name" {
  type = string
}
variable "upstream" {
  type    = string
  default = ""
}
variable "command" {
  type    = string
  default = "true"
}
resource "terraform_data" "t" {
  input = var.upstream == "" ? var.name : "\${var.name}<-\${var.upstream}"
  provisioner "local-exec" {
    command = var.command
  }
}
output "value" {
  value = terraform_data.t.output
}
`;

/** A unit whose precondition holds at review (its input unknown) but fails on the real upstream value. */
const CHECKED_MODULE = `variable "upstream" {
  type = string
}
resource "terraform_data" "t" {
  input = var.upstream
  lifecycle {
    precondition {
      condition     = length(var.upstream) <= 4
      error_message = "The upstream name must fit a 4-character prefix."
    }
  }
}
`;

/**
 * A release id stamped at plan time, handed to the units downstream (a realistic pattern: the
 * review shows the id as known, but every plan, including the unit's own plan before its apply,
 * stamps a new one).
 */
const RELEASE_MODULE = `variable "prefix" {
  type = string
}
resource "terraform_data" "marker" {
  input = var.prefix
}
output "id" {
  value = "\${var.prefix}-\${formatdate("YYYYMMDDhhmmss", plantimestamp())}"
}
`;

/** A build stamped at plan time, with a slow create: every plan of it differs from the one before. */
const BUILD_MODULE = `resource "terraform_data" "t" {
  input = "build-\${formatdate("YYYYMMDDhhmmss", plantimestamp())}"
  provisioner "local-exec" {
    command = "sleep 12"
  }
}
output "value" {
  value = terraform_data.t.output
}
`;

const step = (name: string, extra: Record<string, string> = {}) =>
  `module "${name}" {\n  source = "./modules/step"\n  name   = "${name}"\n${Object.entries(extra).map(([k, v]) => `  ${k} = ${v}\n`).join('')}}\n`;

const STACKS: Record<string, Record<string, string>> = {
  failing: {
    'main.tf': [
      step('bad', { command: JSON.stringify("echo 'quota exceeded for bucket bad-bucket' >&2; exit 3") }),
      step('after_bad', { upstream: 'module.bad.value' }),
      step('last', { upstream: 'module.after_bad.value' }),
      step('slow_ok', { command: '"sleep 5"' }),
      step('after_ok', { upstream: 'module.slow_ok.value' }),
      'module "checked" {\n  source   = "./modules/checked"\n  upstream = module.slow_ok.value\n}\n',
    ].join('\n'),
    'modules/step/main.tf': STEP_MODULE,
    'modules/checked/main.tf': CHECKED_MODULE,
  },
  stamped: {
    'main.tf': [
      'variable "prefix" {\n  type = string\n}\n',
      'module "release" {\n  source = "./modules/release"\n  prefix = var.prefix\n}\n',
      step('app', { upstream: 'module.release.id' }),
      step('side', { command: '"sleep 8"' }),
      'output "app" {\n  value = module.app.value\n}\n',
    ].join('\n'),
    'modules/step/main.tf': STEP_MODULE,
    'modules/release/main.tf': RELEASE_MODULE,
  },
  killed: {
    'main.tf': [
      step('slow', { command: '"sleep 12"' }),
      step('next', { upstream: 'module.slow.value' }),
      step('free'),
      'output "next" {\n  value = module.next.value\n}\n',
    ].join('\n'),
    'modules/step/main.tf': STEP_MODULE,
  },
  rebuilt: {
    'main.tf': 'module "build" {\n  source = "./modules/build"\n}\n',
    'modules/build/main.tf': BUILD_MODULE,
  },
};

/**
 * Units whose provisioners append a line to `lines` once they complete; `slow` first records the
 * (host) pid of its shell in `pidFile`, then sleeps long enough to be killed in the middle.
 */
const restartedStack = (lines: string, pidFile: string): Record<string, string> => ({
  'main.tf': [
    step('slow', { command: JSON.stringify(`umask 000; read p r < /proc/self/stat; echo $p > ${pidFile}; sleep 10; echo slow >> ${lines}`) }),
    step('next', { upstream: 'module.slow.value', command: JSON.stringify(`umask 000; echo next >> ${lines}`) }),
    step('free', { command: JSON.stringify(`umask 000; sleep 1; echo free >> ${lines}`) }),
  ].join('\n'),
  'modules/step/main.tf': STEP_MODULE,
});

/** Is `pid` a running process (a zombie waiting for a parent that does not reap is not)? */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** tofu wraps its diagnostics at 78 columns: compare on text with whitespace collapsed. */
const flat = (text: string | undefined) => (text ?? '').replace(/\s+/g, ' ');

async function eventsOf(s: Stackly, workflowId: string) {
  const op = await s.t.db.selectFrom('operations').selectAll().where('workflow_id', '=', workflowId).executeTakeFirstOrThrow();
  const events = await s.t.db.selectFrom('events').selectAll().where('operation_id', '=', op.id).orderBy('id').execute();
  return { op, events: events.map((e) => ({ id: Number(e.id), type: e.type as string, payload: e.payload as Record<string, unknown>, at: new Date(e.created_at) })) };
}

/** Processes running `bin` whose working directory is under `dir` (tofu of one worker). */
/**
 * tofu processes descended from a worker process (tofu runs as a job user from the sandbox's own copy
 * of the binary since issue 15, so they are found by ancestry and name, not by path).
 */
function tofuUnder(workerPid: number): number[] {
  const parent = new Map<number, number>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const descends = (pid: number): boolean => {
    for (let q = parent.get(pid); q !== undefined && q > 1; q = parent.get(q)) if (q === workerPid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => descends(pid) && isTofu(pid));
}

function isTofu(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '').endsWith('/tofu') || readlinkSync(`/proc/${pid}/exe`).includes('/tofu-');
  } catch {
    return false;
  }
}

describe('StackRunWorkflow: failures, differences and a killed worker', function () {
  this.timeout(600_000);
  let s: Stackly;
  let suite: string;
  let account: string;
  const ids: Record<string, StackIds> = {};
  /** Where the provisioners of the `restarted` stack write. */
  let provisioned: { lines: string; pidFile: string };

  before(async () => {
    s = await startStackly('runfail');
    suite = s.t.schema;
    // Every state key starts with the account: a name of this suite's own keeps its objects apart.
    account = `acct-${suite.slice(-8)}`;
    const repo = makeRepo(h.testStateDir());
    // `lane` routes each stack to its own worker(s); not `pool`, which binds stacks server-side (issue 15).
    const requires = (lane: string) => ({ features: ['terraform'], labels: { suite, lane } });
    const specs = {
      failing: { name: 'failing', requires: requires('inproc'), autoDeploy: true },
      stamped: { name: 'stamped', requires: requires('inproc'), autoDeploy: false, variables: { prefix: 'r' } },
      killed: { name: 'killed', requires: requires('proc'), autoDeploy: true },
      rebuilt: { name: 'rebuilt', requires: requires('proc2'), autoDeploy: false },
      restarted: { name: 'restarted', requires: requires('proc3'), autoDeploy: true },
    };
    const out = h.jobWritableDir('provisioned');
    provisioned = { lines: join(out, 'lines.txt'), pidFile: join(out, 'slow.pid') };
    STACKS.restarted = restartedStack(provisioned.lines, provisioned.pidFile);
    for (const [name, files] of Object.entries(STACKS)) {
      for (const [f, text] of Object.entries({ ...files, 'stack.hcl': stackHcl(specs[name as keyof typeof specs]) })) {
        const path = join(repo.work, 'stacks', name, f);
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(path, text);
      }
    }
    const commit = repo.commit('three stacks');
    for (const [name, spec] of Object.entries(specs)) {
      ids[name] = await registerStack(s, { account, repoUrl: repo.url, repoPath: `stacks/${name}`, commit, ...spec });
    }
  });
  after(async () => { await s?.stop(); });

  describe('on an in-process worker', () => {
    before(async () => { await s.startExecWorker('exec-inproc', { suite, lane: 'inproc' }); });

    it('a failing unit stops its dependants, independent branches complete, and the run says which failed and why', async () => {
      const handle = await startRun(s, ids.failing);
      const result = (await handle.result()) as RunProgress;
      const status = Object.fromEntries(Object.entries(result.units).map(([n, u]) => [n, u.status]));
      assert.deepEqual(status, { bad: 'failed', after_bad: 'skipped', last: 'skipped', slow_ok: 'succeeded', after_ok: 'succeeded', checked: 'failed' });
      assert.equal(result.phase, 'failed');
      // Why: the failing command's own message (apply), the failed precondition (plan), from tofu's output.
      assert.match(result.units.bad.reason!, /tofu apply of unit bad/);
      assert.match(flat(result.units.bad.reason), /Output: quota exceeded for bucket bad-bucket/);
      assert.match(result.units.checked.reason!, /tofu plan of unit checked/);
      assert.match(flat(result.units.checked.reason), /Resource precondition failed.*The upstream name must fit a 4-character prefix/);
      assert.match(result.units.after_bad.reason!, /^blocked: bad failed/);
      assert.match(result.units.last.reason!, /^blocked: bad failed/);
      assert.match(result.error!, /^units failed: /);
      assert.match(flat(result.error), /bad \(.*quota exceeded/);
      assert.match(flat(result.error), /checked \(.*4-character prefix/);
      assert.match(result.error!, /not run because an upstream failed: after_bad, last$/);
      process.stdout.write(`      run error: ${result.error!.split('\n')[0]}…\n`);
      const query = await handle.query(progressQuery);
      assert.deepEqual(query.units, result.units, 'the progress query says the same after the end');

      // What the API shows: the operation and its events.
      const { op, events } = await eventsOf(s, handle.workflowId);
      assert.equal(op.status, 'failed');
      const err = op.error_details as { message: string; units: Array<{ unit: string; status: string; reason: string }> };
      assert.equal(err.message, result.error);
      assert.deepEqual(err.units.map((u) => `${u.unit}:${u.status}`).sort(), ['after_bad:skipped', 'bad:failed', 'checked:failed', 'last:skipped']);
      assert.match(flat(err.units.find((u) => u.unit === 'bad')!.reason), /quota exceeded for bucket bad-bucket/);
      const failed = events.filter((e) => e.type === 'activity_failed');
      assert.deepEqual(failed.map((e) => `${String(e.payload.unit)}:${String(e.payload.step)}`).sort(), ['bad:apply', 'checked:plan']);
      const badFailed = failed.find((e) => e.payload.unit === 'bad')!;
      assert.match(flat(String(badFailed.payload.reason)), /quota exceeded for bucket bad-bucket/);
      const end = events.at(-1)!;
      assert.equal(end.type, 'deploy_failed');
      assert.deepEqual((end.payload.failed_units as Array<{ unit: string }>).map((u) => u.unit).sort(), ['after_bad', 'bad', 'checked', 'last']);
      // The independent branch went on after the failure: after_ok started only after bad had failed.
      const afterOk = events.find((e) => e.type === 'activity_started' && e.payload.unit === 'after_ok')!;
      assert.ok(afterOk.id > badFailed.id, 'after_ok started after bad failed');
      assert.ok(!events.some((e) => e.type === 'activity_started' && ['after_bad', 'last'].includes(e.payload.unit as string)), 'dependants never started');
    });

    it('asks for approval of a dependant whose upstream output differs from the review, and goes on with independent units', async () => {
      const handle = await startRun(s, ids.stamped);
      const review = await waitForPhase(handle, ['awaiting_approval']);
      assert.ok(review.review!.changes.some((c) => c.address === 'module.app.terraform_data.t'));
      // plantimestamp() has a resolution of a second: let the unit plans stamp another one.
      await sleep(1100);
      // An approval of the unit's difference given before the unit asked does not count for it.
      await decide(s, handle, { by: 'dave', scope: 'unit:app' });
      await decide(s, handle, { by: 'alice' });

      const asking = await waitForProgress(handle, (p) => p.units.app?.status === 'awaiting_approval', 'app asking for approval');
      const diffs = asking.units.app.differences!;
      assert.equal(diffs.length, 1, JSON.stringify(diffs));
      assert.equal(diffs[0]!.address, 'module.app.terraform_data.t');
      const m = /^value known at review changed: input: reviewed "app<-(r-\d{14})", now "app<-(r-\d{14})"$/.exec(diffs[0]!.reason);
      assert.ok(m, diffs[0]!.reason);
      assert.notEqual(m[1], m[2]);
      assert.equal(asking.units.app.reason, 'its plan differs from the reviewed plan');
      assert.equal(asking.units.release.status, 'succeeded', 'the upstream itself fitted and was applied');
      // Independent units go on meanwhile.
      const meanwhile = await waitForProgress(handle, (p) => p.units.side?.status === 'succeeded', 'side applied while app waits');
      assert.equal(meanwhile.units.app.status, 'awaiting_approval', 'dave\'s approval, given before the question, does not count');
      const { events } = await eventsOf(s, handle.workflowId);
      const ask = events.find((e) => e.type === 'approval_required' && e.payload.scope === 'unit:app');
      assert.ok(ask, 'approval_required for unit:app recorded');
      assert.deepEqual(ask.payload.differences, diffs);

      await decide(s, handle, { by: 'bob', scope: 'unit:app' });
      const result = (await handle.result()) as RunProgress;
      assert.equal(result.phase, 'succeeded', result.error);
      assert.ok(Object.values(result.units).every((u) => u.status === 'succeeded'), JSON.stringify(result.units));
      assert.deepEqual(result.approvals.map((a) => `${a.by}:${a.scope}`), ['dave:unit:app', 'alice:review', 'bob:unit:app']);
      // What was applied is the approved difference: the release id of the unit's own plan.
      assert.equal(result.outputs!.app.value, `app<-${m[2]}`);
    });
  });

  describe('with an execution worker process killed mid-apply', () => {
    let a: WorkerProcess | undefined;
    let a2: WorkerProcess | undefined;
    let r: WorkerProcess | undefined;
    let r2: WorkerProcess | undefined;
    after(() => {
      for (const p of [a, a2, r, r2]) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    });

    /** Waits until `worker` holds the state lock of `unit` for its apply. */
    async function applyingOn(worker: WorkerProcess, stack: string, unit: string, workflowId: string) {
      const s3 = await h.s3();
      const key = stateKey(ids[stack]!.statePrefix, unit);
      let lock;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        lock = await readStateLock(s3Client(s3), s3.bucket, key);
        if (lock?.holder?.phase === 'apply') break;
        await sleep(200);
      }
      assert.equal(lock?.holder?.workerId, worker.id, `the apply of ${unit} runs on the worker process: ${JSON.stringify(lock)}`);
      assert.equal(lock.holder.runId, workflowId);
      return key;
    }

    it('recovers without a human: another worker breaks the dead worker\'s lock, re-plans and applies', async () => {
      const labels = { suite, lane: 'proc' };
      const s3 = await h.s3();
      const client = s3Client(s3);
      a = await spawnExecWorkerProcess(s, 'exec-proc-a', labels);
      const handle = await startRun(s, ids.killed);
      // Wait until worker A applies `slow` (tofu sleeps in local-exec) and has claimed its state lock.
      const key = await applyingOn(a, 'killed', 'slow', handle.workflowId);
      await sleep(1000);
      const tofuPids = tofuUnder(a.child.pid!);
      assert.ok(tofuPids.length > 0, 'tofu runs under worker A');

      // A second matching worker, then SIGKILL of the first in the middle of the apply.
      await s.startExecWorker('exec-inproc-b', labels);
      const killedAt = Date.now();
      a.child.kill('SIGKILL');
      assert.equal((await a.exited).signal, 'SIGKILL');
      await sleep(1000);
      assert.deepEqual(tofuPids.filter(isTofu), [], 'tofu died with its worker');
      const left = await readStateLock(client, s3.bucket, key);
      assert.equal(left?.holder?.workerId, a.id, 'the dead worker\'s lock is left behind');

      const result = (await handle.result()) as RunProgress;
      const doneAt = Date.now();
      assert.equal(result.phase, 'succeeded', result.error);
      assert.ok(Object.values(result.units).every((u) => u.status === 'succeeded'), JSON.stringify(result.units));
      assert.equal(result.outputs!.next.value, 'next<-slow');
      assert.deepEqual(result.approvals, [], 'nobody was asked');

      const { events } = await eventsOf(s, handle.workflowId);
      const replan = events.find((e) => e.type === 'activity_started' && e.payload.unit === 'slow' && e.payload.step === 'plan' && e.payload.attempt === 2);
      assert.ok(replan, `slow was planned again: ${events.map((e) => `${e.type}:${String(e.payload.unit ?? '')}`).join(', ')}`);
      assert.ok(!events.some((e) => e.type === 'approval_required'), 'no approval asked');
      const sealedLog = await getObject(client, s3.bucket, logKeyOf(handle.workflowId, 'slow', 'plan'));
      const planLog = sealedLog ? (await s.cipher.decrypt(sealedLog)).toString('utf8') : '';
      assert.match(planLog, /the state lock of a dead worker was released/);
      assert.equal(await readStateLock(client, s3.bucket, key), undefined, 'no lock left');
      const row = await s.t.db.selectFrom('workers').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      assert.ok(Date.now() - new Date(row.last_heartbeat_at).getTime() > 15_000, 'worker A shows as offline');
      process.stdout.write(`      killed → re-plan started: ${((replan.at.getTime() - killedAt) / 1000).toFixed(1)} s; killed → run finished: ${((doneAt - killedAt) / 1000).toFixed(1)} s\n`);
      process.stdout.write(`      worker A log: ${a.logFile}\n`);
    });

    it('asks again, with the reason, when the unit planned again after the lost worker no longer fits what was approved', async () => {
      const labels = { suite, lane: 'proc2' };
      const s3 = await h.s3();
      const client = s3Client(s3);
      a2 = await spawnExecWorkerProcess(s, 'exec-proc-a2', labels);
      const handle = await startRun(s, ids.rebuilt);
      await waitForPhase(handle, ['awaiting_approval']);
      await sleep(1100);
      await decide(s, handle, { by: 'alice' });
      // Its own plan stamps another build than the review: a first question, approved.
      const first = await waitForProgress(handle, (p) => p.units.build?.status === 'awaiting_approval', 'the first question');
      assert.equal(first.units.build.reason, 'its plan differs from the reviewed plan');
      await sleep(1100);
      await decide(s, handle, { by: 'bob', scope: 'unit:build' });
      const key = await applyingOn(a2, 'rebuilt', 'build', handle.workflowId);

      await s.startExecWorker('exec-inproc-b2', labels);
      const killedAt = Date.now();
      a2.child.kill('SIGKILL');
      await a2.exited;
      // Planned again on the other worker: a new stamp, not what bob approved, so it asks again.
      const again = await waitForProgress(handle, (p) => p.units.build?.status === 'awaiting_approval' && p.approvals.length === 2, 'the second question', 120_000);
      const askedAt = Date.now();
      assert.equal(again.units.build.reason, 'planned again after its worker was lost, its plan differs from what was approved');
      assert.equal(again.units.build.differences!.length, 1);
      assert.equal(again.units.build.differences![0]!.address, 'module.build.terraform_data.t');
      assert.match(again.units.build.differences![0]!.reason, /^value known at review changed: input: reviewed "build-\d{14}", now "build-\d{14}"$/);
      assert.equal(await readStateLock(client, s3.bucket, key), undefined, 'the dead worker\'s lock was broken to plan again');
      await sleep(2000);
      assert.equal((await handle.query(progressQuery)).units.build.status, 'awaiting_approval', 'the first approval does not count for the second question');

      await decide(s, handle, { by: 'carol', scope: 'unit:build' });
      const result = (await handle.result()) as RunProgress;
      assert.equal(result.phase, 'succeeded', result.error);
      assert.equal(result.units.build.status, 'succeeded');
      assert.deepEqual(result.approvals.map((x) => `${x.by}:${x.scope}`), ['alice:review', 'bob:unit:build', 'carol:unit:build']);
      const { events } = await eventsOf(s, handle.workflowId);
      const asks = events.filter((e) => e.type === 'approval_required' && e.payload.scope === 'unit:build');
      assert.deepEqual(asks.map((e) => e.payload.attempt), [1, 2]);
      process.stdout.write(`      killed → asked again: ${((askedAt - killedAt) / 1000).toFixed(1)} s\n`);
    });

    it('recovers without a human when the worker is restarted under the same WORKER_ID, and no provisioner runs twice', async () => {
      const labels = { suite, lane: 'proc3' };
      const id = 'exec-proc-same';
      const s3 = await h.s3();
      const client = s3Client(s3);
      r = await spawnExecWorkerProcess(s, id, labels);
      const handle = await startRun(s, ids.restarted);
      const key = await applyingOn(r, 'restarted', 'slow', handle.workflowId);
      assert.equal((await readStateLock(client, s3.bucket, key))?.holder?.incarnation, r.incarnation, 'the claim names the process');
      // The provisioner of slow is sleeping (its shell recorded its pid): kill the worker now.
      const deadline = Date.now() + 30_000;
      while (!existsSync(provisioned.pidFile) && Date.now() < deadline) await sleep(100);
      const provisionerPid = Number(readFileSync(provisioned.pidFile, 'utf8'));
      // `free` (independent, 1 s) finishes first: killed in the middle of its own apply, before its
      // worker recorded its lock claim, its lock would (rightly) wait for a human.
      while (!(existsSync(provisioned.lines) && readFileSync(provisioned.lines, 'utf8').includes('free')) && Date.now() < deadline) await sleep(100);
      assert.ok(running(provisionerPid), 'the provisioner runs');
      const tofuPids = tofuUnder(r.child.pid!);
      const killedAt = Date.now();
      r.child.kill('SIGKILL');
      assert.equal((await r.exited).signal, 'SIGKILL');
      await sleep(1000);
      assert.equal(running(provisionerPid), false, 'the provisioner (a child of tofu) died with its worker');
      assert.deepEqual(tofuPids.filter(isTofu), [], 'tofu died with its worker');
      const left = await readStateLock(client, s3.bucket, key);
      assert.equal(left?.holder?.workerId, id, 'the dead process\'s lock is left behind');
      assert.equal(left.holder.incarnation, r.incarnation);

      // The same worker id again, in the same work directory, and no other worker of this pool.
      r2 = await spawnExecWorkerProcess(s, id, labels, { workDir: r.workDir });
      assert.notEqual(r2.incarnation, r.incarnation, 'a new incarnation');
      const result = (await handle.result()) as RunProgress;
      const doneAt = Date.now();
      assert.equal(result.phase, 'succeeded', result.error);
      assert.ok(Object.values(result.units).every((u) => u.status === 'succeeded'), JSON.stringify(result.units));
      assert.deepEqual(result.approvals, [], 'nobody was asked');
      const sealedLog = await getObject(client, s3.bucket, logKeyOf(handle.workflowId, 'slow', 'plan'));
      const planLog = sealedLog ? (await s.cipher.decrypt(sealedLog)).toString('utf8') : '';
      assert.match(planLog, /the state lock of a dead worker was released/);
      assert.equal(await readStateLock(client, s3.bucket, key), undefined, 'no lock left');
      const row = await s.t.db.selectFrom('workers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.incarnation, r2.incarnation);

      // Every provisioner that completed did so once: the killed one never finished behind the retry.
      await sleep(2000);
      const lines = readFileSync(provisioned.lines, 'utf8').split('\n').filter(Boolean).sort();
      assert.deepEqual(lines, ['free', 'next', 'slow']);
      process.stdout.write(`      killed → restarted worker finished the run: ${((doneAt - killedAt) / 1000).toFixed(1)} s\n`);
    });
  });
});
