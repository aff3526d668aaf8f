/**
 * Live run logs end to end (issue 17): the CLI as its own process against the real api process, a
 * control and an execution worker on real Temporal, Postgres, Vault, MinIO and tofu.
 *
 * - `stackly run logs <id> -f` of a running 3-unit run prints each unit's plan and apply output as it
 *   happens: a unit's `local-exec` prints a marker, then sleeps; the marker is printed while the run
 *   still runs. It exits 0 when the run ends; the sensitive variable's value never appears.
 * - A unit that fails with a long error: `stackly run start --wait` shows its log's tail, and
 *   GET /api/runs/:id/logs gives all of it after the run (more than the error message's tail).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_TASK_QUEUE, progressQuery, type RunProgress } from '../../workflows/definitions';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import { registerStack, stackHcl, type StackSpec } from '../workflows/helpers';

const ROOT = join(__dirname, '..', '..');
const SECRET = 'pw-7f3a9c-never-shown';
let TOKEN = '';

interface CliProcess {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

describe('stackly run logs: live logs of real runs through the api process', function () {
  this.timeout(600_000);
  let s: Stackly;
  let api: ApiProcess;
  const running: ChildProcess[] = [];
  const runIds: string[] = [];

  function cli(args: string[]): CliProcess {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', 'run', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STACKLY_API_URL: api.url, STACKLY_API_TOKEN: TOKEN },
    });
    running.push(child);
    let out = '';
    let err = '';
    const waiters: Array<() => void> = [];
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); for (const w of waiters) w(); });
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); for (const w of waiters) w(); });
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

  async function cliDone(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const p = cli(args);
    const code = await p.exited;
    return { code, out: p.out(), err: p.err() };
  }

  async function waitForPhase(runId: string, phase: RunProgress['phase']): Promise<RunProgress> {
    const handle = s.client.workflow.getHandle(runId);
    for (const deadline = Date.now() + 240_000; Date.now() < deadline;) {
      const p = await handle.query(progressQuery).catch(() => undefined);
      if (p?.phase === phase) return p;
      if (p && ['failed', 'succeeded', 'rejected', 'cancelled'].includes(p.phase)) throw new Error(`run ${runId} ended ${p.phase} before ${phase}: ${p.error ?? ''}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`run ${runId} never reached ${phase}`);
  }

  before(async () => {
    s = await startStackly('cli_run_logs', { taskQueue: CONTROL_TASK_QUEUE });
    const labels = { suite: s.t.schema };
    await s.startExecWorker('exec-logs', labels);
    const repo = makeRepo(h.testStateDir());
    const specs: Array<Omit<StackSpec, 'repoUrl' | 'commit'>> = [
      { account: 'acme', repoPath: 'stacks/trio', name: 'trio', requires: { features: ['terraform'], labels }, variables: { prefix: 'q', token: SECRET } },
      { account: 'acme', repoPath: 'stacks/broken', name: 'broken', requires: { features: ['terraform'], labels }, variables: { prefix: 'b' } },
    ];
    // trio: three units (the root, module one, module two that takes one's output); the root prints
    // the sensitive token (tofu would hide it; nonsensitive() makes the redactor do the work), two
    // prints a marker, then sleeps.
    const trio = join(repo.work, 'stacks', 'trio');
    mkdirSync(join(trio, 'one'), { recursive: true });
    mkdirSync(join(trio, 'two'), { recursive: true });
    writeFileSync(join(trio, 'stack.hcl'), stackHcl(specs[0]!));
    writeFileSync(join(trio, 'main.tf'), [
      'variable "prefix" { type = string }',
      'variable "token" {\n  type      = string\n  sensitive = true\n}',
      'resource "terraform_data" "a" {\n  input = "${var.prefix}-a"\n  provisioner "local-exec" { command = "echo stackly-token=${nonsensitive(var.token)}" }\n}',
      'module "one" {\n  source = "./one"\n  value  = terraform_data.a.output\n}',
      'module "two" {\n  source = "./two"\n  value  = module.one.out\n}',
      'output "last" { value = module.two.out }', '',
    ].join('\n'));
    writeFileSync(join(trio, 'one', 'main.tf'), [
      'variable "value" { type = string }',
      'resource "terraform_data" "b" { input = "${var.value}-b" }',
      'output "out" { value = terraform_data.b.output }', '',
    ].join('\n'));
    writeFileSync(join(trio, 'two', 'main.tf'), [
      'variable "value" { type = string }',
      'resource "terraform_data" "c" {\n  input = "${var.value}-c"\n  provisioner "local-exec" { command = "echo MARKER-two-start; sleep 6; echo MARKER-two-done" }\n}',
      'output "out" { value = terraform_data.c.output }', '',
    ].join('\n'));
    // broken: its apply fails after 60 lines of output, more than an error message's tail.
    const broken = join(repo.work, 'stacks', 'broken');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'stack.hcl'), stackHcl(specs[1]!));
    writeFileSync(join(broken, 'main.tf'), [
      'variable "prefix" { type = string }',
      'resource "terraform_data" "x" {\n  input = "${var.prefix}-x"\n  provisioner "local-exec" { command = "for i in $(seq 1 60); do echo detail-$i; done; exit 3" }\n}', '',
    ].join('\n'));
    const commit = repo.commit('trio and broken');
    const ids = [];
    for (const spec of specs) ids.push(await registerStack(s, { ...spec, repoUrl: repo.url, commit }));
    TOKEN = (await createPrincipal(s.t.db, { accountId: ids[0]!.accountId, login: 'alice', role: 'admin' })).key;
    api = await startApiProcess(apiProcessEnv({
      db: s.t, temporal: await h.temporal(), vault: await h.vault(),
      webhookSecret: 'cli-logs-webhook-secret-0123456789', extra: { STACKLY_ACCOUNT: 'acme' },
    }));
  });

  after(async () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const id of runIds) await s.client.workflow.getHandle(id).terminate('cli-run-logs suite ended').catch(() => undefined);
    await api?.stop();
    await s?.stop();
  });

  it('run logs -f prints each unit\'s plan and apply output while the run works, never the secret, and exits 0 at the end', async () => {
    const start = await cliDone(['start', 'trio', '--state', 'test']);
    assert.equal(start.code, 0, start.err);
    const runId = start.out.match(/^Started run (\S+) of trio\/test/m)![1]!;
    runIds.push(runId);
    const logs = cli(['logs', runId, '-f']);
    // The review plan's output comes before anyone approves.
    await logs.waitFor(/^\[_review plan\] .*Plan: \d+ to add/m);
    await waitForPhase(runId, 'awaiting_approval');
    const approved = await cliDone(['approve', runId]);
    assert.equal(approved.code, 0, approved.err);

    const marker = await logs.waitFor(/^\[(\S+) apply\] .*MARKER-two-start$/m);
    const status = (await s.client.workflow.getHandle(runId).describe()).status.name;
    assert.equal(status, 'RUNNING', 'the marker was printed while the run was still running');
    // The line the command printed (its `Executing: …` line names both markers).
    const done = /\(local-exec\): MARKER-two-done$/m;
    assert.ok(!done.test(logs.out()), 'and before the unit went on');

    assert.equal(await logs.exited, 0, logs.err());
    const out = logs.out();
    assert.match(logs.err(), /ended \(succeeded\)/);
    assert.ok(out.indexOf('(local-exec): MARKER-two-start') < out.indexOf('(local-exec): MARKER-two-done'));
    const progress = await s.client.workflow.getHandle(runId).query(progressQuery);
    assert.equal(progress.phase, 'succeeded', progress.error);
    const applied = Object.entries(progress.units).filter(([, u]) => u.status === 'succeeded' && (u.counts?.add ?? 0) > 0).map(([n]) => n);
    assert.ok(applied.length >= 3, `three units applied: ${JSON.stringify(progress.units)}`);
    for (const u of applied) {
      assert.match(out, new RegExp(`^\\[${u} plan\\] `, 'm'), `${u}'s plan output`);
      assert.match(out, new RegExp(`^\\[${u} apply\\] .*Apply complete!`, 'm'), `${u}'s apply output`);
    }
    assert.ok(applied.includes(marker[1]!), `the marker came from a unit's apply (${marker[1]})`);
    assert.match(out, /stackly-token=\(sensitive\)/, 'the root printed the token, redacted');
    assert.ok(!out.includes(SECRET), 'the sensitive value never appears');
    // Every line is prefixed.
    for (const line of out.split('\n').filter(Boolean)) assert.match(line, /^\[\S+ \S+\] /);
  });

  it('a failing unit: run start --wait shows its log\'s tail; GET /api/runs/:id/logs has all of its error after the run', async () => {
    const start = cli(['start', 'broken', '--state', 'test', '--wait']);
    const runId = (await start.waitFor(/^Started run (\S+) of broken\/test/m))[1]!;
    runIds.push(runId);
    await waitForPhase(runId, 'awaiting_approval');
    assert.equal((await cliDone(['approve', runId])).code, 0);
    assert.equal(await start.exited, 1, start.err());
    const unit = start.err().match(/the last 40 lines of unit (\S+)'s log/)?.[1];
    assert.ok(unit, start.err());
    assert.match(start.err(), /detail-60$/m);
    const tail = start.err().slice(start.err().indexOf('the last 40 lines'));
    assert.ok(!/: detail-1$/m.test(tail), 'only the tail');

    const progress = await s.client.workflow.getHandle(runId).query(progressQuery);
    assert.equal(progress.phase, 'failed');
    const message = `${progress.error ?? ''}\n${progress.units[unit]?.reason ?? ''}`;
    assert.ok(!/detail-1$/m.test(message), 'the error message has only the tail');
    const res = await fetch(`${api.url}/api/runs/${runId}/logs?unit=${unit}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    const log = await res.text();
    for (const i of [1, 30, 60]) assert.match(log, new RegExp(`^\\[${unit} apply\\] .*: detail-${i}$`, 'm'));
    assert.match(log, /Error: /);
    const json = await (await fetch(`${api.url}/api/runs/${runId}/logs?unit=${unit}&phase=apply&format=json`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { chunks: Array<{ text: string }> };
    assert.match(json.chunks.map((c) => c.text).join(''), /detail-1\n/);
  });
});
