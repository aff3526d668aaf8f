/**
 * `stackly run …` end to end: the CLI runs as its own process (cli/index.ts under tsx) against the
 * real api process (api/main.ts), a control worker and an execution worker on real Temporal,
 * Postgres, Vault, MinIO and tofu. A stack of two units of `terraform_data` is started through the
 * CLI, waits for approval with the plan summary, is rejected (its watcher exits 1); started again with
 * --wait, approved through the CLI and applied (exit 0). API errors are one line without the token.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_TASK_QUEUE } from '../../workflows/definitions';
import type { RunBody } from '../../cli/api-client';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import { registerStack, stackHcl, type StackSpec } from '../workflows/helpers';

const ROOT = join(__dirname, '..', '..');
/** alice's API key (admin of account acme), made in the suite's schema. */
let TOKEN = '';

interface CliProcess {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first match of `re` in stdout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

describe('stackly run: the CLI against the api process and real runs', function () {
  this.timeout(600_000);
  let s: Stackly;
  let api: ApiProcess;
  let stateId: string;
  let codeId: string;
  const running: ChildProcess[] = [];
  let runId = '';

  function cli(args: string[], env: Record<string, string> = {}): CliProcess {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', 'run', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STACKLY_API_URL: api.url, STACKLY_API_TOKEN: TOKEN, ...env },
    });
    running.push(child);
    let out = '';
    let err = '';
    const waiters: Array<() => void> = [];
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); for (const w of waiters) w(); });
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => { for (const w of waiters) w(); r(code); }));
    return {
      child, exited, out: () => out, err: () => err,
      waitFor(re, timeoutMs = 240_000) {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${re} in time; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
          const check = () => {
            const m = out.match(re);
            if (m) { clearTimeout(timer); resolve(m); } else if (child.exitCode !== null) {
              clearTimeout(timer);
              reject(new Error(`exited ${child.exitCode} before ${re}; stdout:\n${out}\nstderr:\n${err}`));
            }
          };
          waiters.push(check);
          check();
        });
      },
    };
  }

  /** Runs the CLI to its end. */
  async function cliDone(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
    const p = cli(args, env);
    const code = await p.exited;
    return { code, out: p.out(), err: p.err() };
  }

  /** A run's id is reused by a later run of the same commit only once it has closed. */
  async function waitClosed(runId: string): Promise<void> {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      if ((await s.client.workflow.getHandle(runId).describe()).status.name !== 'RUNNING') return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`run ${runId} did not close`);
  }

  before(async () => {
    // The api process starts runs on CONTROL_TASK_QUEUE, so this suite's control worker polls it.
    s = await startStackly('cli_run', { taskQueue: CONTROL_TASK_QUEUE });
    const labels = { suite: s.t.schema };
    await s.startExecWorker('exec-cli', labels);
    const repo = makeRepo(h.testStateDir());
    const dir = join(repo.work, 'stacks', 'pair');
    mkdirSync(join(dir, 'm'), { recursive: true });
    const spec: Omit<StackSpec, 'repoUrl' | 'commit'> = {
      account: 'acme', repoPath: 'stacks/pair', name: 'pair', requires: { features: ['terraform'], labels }, variables: { prefix: 'q' },
    };
    writeFileSync(join(dir, 'stack.hcl'), stackHcl(spec));
    writeFileSync(join(dir, 'main.tf'), [
      'variable "prefix" { type = string }',
      'resource "terraform_data" "a" { input = "${var.prefix}-a" }',
      'module "m" {\n  source = "./m"\n  value  = terraform_data.a.output\n}',
      'output "b" { value = module.m.out }', '',
    ].join('\n'));
    writeFileSync(join(dir, 'm', 'main.tf'), [
      'variable "value" { type = string }',
      // Applying takes a moment, so the 1 s polls see the unit applying.
      'resource "terraform_data" "b" {\n  input = "${var.value}-b"\n  provisioner "local-exec" { command = "sleep 2" }\n}',
      'output "out" { value = terraform_data.b.output }', '',
    ].join('\n'));
    const ids = await registerStack(s, { ...spec, repoUrl: repo.url, commit: repo.commit('pair stack') });
    codeId = ids.codeId;
    stateId = ids.stateId;
    TOKEN = (await createPrincipal(s.t.db, { accountId: ids.accountId, login: 'alice', role: 'admin' })).key;
    api = await startApiProcess(apiProcessEnv({
      db: s.t, temporal: await h.temporal(), vault: await h.vault(),
      webhookSecret: 'cli-run-webhook-secret-0123456789', extra: { STACKLY_ACCOUNT: 'acme' },
    }));
  });

  after(async () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // A run left open by a failed test must not reach other suites' workers on the shared control queue.
    if (runId) await s.client.workflow.getHandle(runId).terminate('cli-run suite ended').catch(() => undefined);
    await api?.stop();
    await s?.stop();
  });

  it('starts a run by stack name, shows the plan summary and the approval commands; rejected, its watcher exits 1', async () => {
    const start = await cliDone(['start', 'pair', '--state', 'test']);
    assert.equal(start.code, 0, start.err);
    const m = start.out.match(/^Started run (\S+) of pair\/test at ([0-9a-f]{12})$/m);
    assert.ok(m, start.out);
    runId = m[1]!;
    assert.ok(runId.includes(stateId), 'the run id derives from the state');
    assert.match(start.out, new RegExp(`Follow it: stackly run show ${runId} --watch`));

    const watch = cli(['show', runId, '--watch']);
    await watch.waitFor(/^Waiting for approval: .*$/m);
    const out = watch.out();
    assert.match(out, /^Plan: 2 to add, 0 to change, 0 to destroy\.$/m);
    assert.match(out, /^ {4}\+ module\.m\.terraform_data\.b +create$/m);
    assert.match(out, /^ {4}\+ terraform_data\.a +create$/m);
    assert.ok(out.includes(`approve: stackly run approve ${runId}`), out);
    assert.match(out, /unit \S+: pending/, 'units are listed');

    const show = await cliDone(['show', runId]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /· awaiting approval \(waiting for approval of the plan\)/);
    assert.match(show.out, /^Plan: 2 to add/m);

    const reject = await cliDone(['reject', runId, '--reason', 'not today']);
    assert.equal(reject.code, 0, reject.err);
    assert.equal(reject.out, `Rejected run ${runId} as alice\n`);
    assert.equal(await watch.exited, 1, watch.out());
    assert.equal(watch.err(), `stackly: run ${runId} was rejected: rejected by alice: not today\n`);

    const json = await cliDone(['show', runId, '--json']);
    assert.equal(json.code, 0, json.err);
    const body = JSON.parse(json.out) as RunBody;
    assert.equal(body.progress.phase, 'rejected');
    assert.ok(Object.values(body.progress.units).every((u) => u.status === 'pending'), 'nothing applied');
  });

  it('started again by stack code id with --wait: waits for approval, approved through the CLI, applies every unit, exits 0', async () => {
    await waitClosed(runId);
    const start = cli(['start', codeId, '--state', 'test', '--wait']);
    const [, again] = await start.waitFor(/^Started run (\S+) of pair\/test/m);
    assert.notEqual(again, runId, 'a re-run of the same commit is a new run with its own id');
    runId = again!;
    await start.waitFor(/^Waiting for approval: /m);
    assert.match(start.out(), /^Plan: 2 to add, 0 to change, 0 to destroy\.$/m);

    const approve = await cliDone(['approve', runId, '--comment', 'ship it']);
    assert.equal(approve.code, 0, approve.err);
    assert.equal(approve.out, `Approved run ${runId} (review) as alice\n`);

    assert.equal(await start.exited, 0, `${start.out()}\n${start.err()}`);
    const out = start.out();
    assert.match(out, /^ {2}approved by alice: ship it$/m);
    assert.match(out, /^ {2}unit m: applying \+1 ~0 -0$/m, 'live progress per unit');
    assert.equal(out.match(/^ {2}unit \S+: succeeded \+1 ~0 -0$/gm)?.length, 2, out);
    assert.match(out, /^ {2}b = "q-a-b"$/m, 'root outputs');
    assert.ok(out.trimEnd().endsWith(`Run ${runId} succeeded: 2 of 2 units applied.`), out);
    assert.equal(start.err(), '');

    const json = await cliDone(['show', runId, '--json']);
    const body = JSON.parse(json.out) as RunBody;
    assert.equal(body.operation_status, 'succeeded');
    assert.deepEqual(body.progress.approvals, [{ by: 'alice', scope: 'review', comment: 'ship it' }]);
    assert.ok(Object.values(body.progress.units).every((u) => u.status === 'succeeded'), json.out);
  });

  it('a run with nothing to change ends without asking (exit 0); a run cancelled through the CLI makes its waiter exit 1', async () => {
    await waitClosed(runId);
    const same = await cliDone(['start', 'pair', '--state', 'test', '--wait']);
    assert.equal(same.code, 0, same.err);
    assert.match(same.out, /^Plan: no changes\./m);
    runId = /^Started run (\S+) /m.exec(same.out)![1]!;
    assert.ok(same.out.trimEnd().endsWith(`Run ${runId} succeeded: no changes, nothing applied.`), same.out);
    assert.doesNotMatch(same.out, /Waiting for approval/);

    await waitClosed(runId);
    await s.t.db.updateTable('stack_states').set({ variables: JSON.stringify({ prefix: 'r' }) }).where('id', '=', stateId).execute();
    const start = cli(['start', 'pair', '--state', 'test', '--wait']);
    runId = (await start.waitFor(/^Started run (\S+) /m))[1]!;
    await start.waitFor(/^Waiting for approval: /m);
    assert.match(start.out(), /^Plan: 0 to add, 2 to change, 0 to destroy\.$/m);
    assert.match(start.out(), /^ {4}~ terraform_data\.a +update$/m);
    const cancel = await cliDone(['cancel', runId]);
    assert.equal(cancel.code, 0, cancel.err);
    assert.equal(cancel.out, `Cancelling run ${runId} (asked by alice)\n`);
    assert.equal(await start.exited, 1, start.out());
    assert.equal(start.err(), `stackly: run ${runId} was cancelled\n`);
  });

  it('errors: one line with what failed, the HTTP status and the API error; exit 1; never the token', async () => {
    const missing = await cliDone(['show', 'no-such-run']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'stackly: reading run no-such-run: HTTP 404 not_found: run no-such-run not found\n');

    const neverRun = `run-deploy-${stateId}-000000000000`;
    const notStarted = await cliDone(['show', neverRun]);
    assert.equal(notStarted.code, 1);
    assert.equal(notStarted.err, `stackly: reading run ${neverRun}: HTTP 404 not_found: run ${neverRun} not found\n`);

    await waitClosed(runId);
    const cancel = await cliDone(['cancel', runId]);
    assert.equal(cancel.code, 1);
    assert.match(cancel.err, new RegExp(`^stackly: cancelling run ${runId}: HTTP 409 run_not_running: .*\\n$`));
    // Approving a run that has ended is refused, and leaves no approval on record.
    const countApprovals = async () => (await s.t.db.selectFrom('approvals').select((e) => e.fn.countAll<string>().as('n'))
      .where('workflow_id', '=', runId).executeTakeFirstOrThrow()).n;
    const before = await countApprovals();
    const late = await cliDone(['approve', runId]);
    assert.equal(late.code, 1);
    assert.match(late.err, new RegExp(`^stackly: approving run ${runId}: HTTP 409 run_not_running: .*\\n$`));
    assert.equal(await countApprovals(), before);

    const wrong = 'wrong-token-abcdef0123456789';
    const denied = await cliDone(['approve', runId], { STACKLY_API_TOKEN: wrong });
    assert.equal(denied.code, 1);
    assert.match(denied.err, /^stackly: approving run \S+: HTTP 401 \S+: .*\n$/);
    assert.ok(!denied.err.includes(wrong) && !denied.out.includes(wrong));

    const noState = await cliDone(['start', 'pair', '--state', 'nope']);
    assert.equal(noState.code, 1);
    assert.equal(noState.err, 'stackly: stack pair has no state "nope" (its states: test)\n');
  });
});
