/**
 * Nothing tofu starts outlives a killed worker (activities/terraform/tofu.ts, Containment): a stand-in
 * worker process (test/unit/tofu-containment/worker.ts) runs `sh -c` through runTofu; the shell
 * backgrounds a child that records its pid; the worker is SIGKILLed; then `kill -0` on every recorded
 * pid must fail. Also: exit codes, stdout/stderr, cwd and environment pass through the wrappers, and
 * cancellation's SIGINT reaches the command (not swallowed by `unshare`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import {
  detectContainment, GroupSupervisor, processContainment, RunLog, runTofu, TofuError, type Containment,
} from '../../activities/terraform/tofu';

const REPO_ROOT = resolve(__dirname, '..', '..');
const WORKER = join(__dirname, 'tofu-containment', 'worker.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Is `pid` a live process (`kill -0`)? Zombies count as dead. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Writes the pid of the shell that runs it (its host pid: /proc is the machine's) to `file`. */
const recordPid = (file: string) => `read p r < /proc/self/stat; echo $p > ${file}`;

async function waitForFile(file: string, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8').trim();
      if (/^\d+$/.test(text)) return Number(text);
    }
    await sleep(50);
  }
  throw new Error(`${file} was not written in time`);
}

const which = (name: string): string | undefined => {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

describe('tofu containment: nothing outlives a killed worker', function () {
  this.timeout(60_000);
  let dir: string;
  const detected = processContainment();
  const setpriv = which('setpriv');
  const unshare = which('unshare');
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackly-contain-'));
    process.stdout.write(`      detected: ${detected.mode}: ${detected.description}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Starts the stand-in worker with `script`, waits for every pid file, SIGKILLs the worker, and
   * returns the recorded pids once the kernel had a moment to act.
   */
  async function killWorkerDuring(spec: Record<string, unknown>, pidFiles: string[]): Promise<{ pids: number[]; supervisor?: number }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', WORKER, JSON.stringify({ cwd: dir, ...spec })], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => { output += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
    let pids: number[];
    try {
      pids = await Promise.all(pidFiles.map((f) => waitForFile(f)));
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}; worker output: ${output}`);
    }
    const supervisor = spec.supervisorPidFile ? await waitForFile(spec.supervisorPidFile as string) : undefined;
    for (const p of pids) assert.ok(alive(p), `pid ${p} runs before the kill`);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && [...pids, ...(supervisor ? [supervisor] : [])].some(alive)) await sleep(50);
    return { pids, ...(supervisor ? { supervisor } : {}) };
  }

  const files = (name: string) => [join(dir, `${name}.sh`), join(dir, `${name}.child`)];

  it('detects a PID namespace here, or says why not', () => {
    assert.ok(['pid-namespace', 'process-group', 'none'].includes(detected.mode));
    assert.ok(detected.description.length > 10);
    if (process.platform === 'linux' && setpriv && unshare && process.getuid?.() === 0) assert.equal(detected.mode, 'pid-namespace', detected.description);
    assert.equal(detectContainment(process.env.PATH, 'darwin').mode, 'process-group');
    assert.equal(detectContainment(process.env.PATH, 'win32').mode, 'none');
  });

  it('PID namespace (as detected): a setsid child of the command dies with the SIGKILLed worker', async function () {
    if (detected.mode !== 'pid-namespace') this.skip();
    const [sh, kid] = files('pidns');
    const script = `${recordPid(sh!)}; (setsid sh -c '${recordPid(kid!)}; exec sleep 100' &); sleep 100`;
    const { pids } = await killWorkerDuring({ mode: 'detected', script }, [sh!, kid!]);
    assert.deepEqual(pids.filter(alive), [], `nothing left of ${pids.join(', ')}`);
  });

  it('PID namespace inside a user namespace (the mode of a worker that is not root): the same', async function () {
    if (!setpriv || !unshare || detectContainment().mode !== 'pid-namespace') this.skip();
    const prefix = [setpriv, '--pdeathsig', 'KILL', '--', unshare, '--user', '--map-current-user', '--pid', '--fork', '--kill-child', '--'];
    const probe = spawnSync(prefix[0]!, [...prefix.slice(1), 'sh', '-c', 'echo $$'], { encoding: 'utf8' });
    if (probe.stdout.trim() !== '1') this.skip();
    const [sh, kid] = files('userns');
    const script = `${recordPid(sh!)}; (setsid sh -c '${recordPid(kid!)}; exec sleep 100' &); sleep 100`;
    const { pids } = await killWorkerDuring({ mode: 'pid-namespace', prefix, script }, [sh!, kid!]);
    assert.deepEqual(pids.filter(alive), [], `nothing left of ${pids.join(', ')}`);
  });

  it('process-group fallback: the supervisor kills the group (backgrounded children too) and exits', async function () {
    const [sh, kid] = files('pgroup');
    const supervisorPidFile = join(dir, 'supervisor.pid');
    const prefix = setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
    const script = `${recordPid(sh!)}; (sh -c '${recordPid(kid!)}; exec sleep 100' &); sleep 100`;
    const { pids, supervisor } = await killWorkerDuring({ mode: 'process-group', prefix, script, supervisorPidFile }, [sh!, kid!]);
    assert.deepEqual(pids.filter(alive), [], `nothing left of ${pids.join(', ')}`);
    assert.equal(alive(supervisor!), false, 'the supervisor exits after killing the groups');
  });

  describe('what passes through (as detected)', () => {
    const run = (script: string, extra: { env?: Record<string, string>; containment?: Containment } = {}) => runTofu({
      bin: 'sh', args: ['-c', script], cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra.env },
      phase: 'plan', what: 'test command', redact: (t) => t, ctx: { heartbeat: () => undefined }, log: new RunLog((t) => t),
      ...(extra.containment ? { containment: extra.containment } : {}),
    });

    it('stdout, stderr, exit code, cwd and environment are the command\'s own', async () => {
      const ok = await run('pwd; echo "$STACKLY_T"; echo to-stderr >&2; env | sort', { env: { STACKLY_T: 'a value' } });
      const lines = ok.stdout.split('\n');
      assert.equal(lines[0], dir);
      assert.equal(lines[1], 'a value');
      assert.equal(ok.stderr, 'to-stderr\n');
      const env = lines.slice(2).filter(Boolean).map((l) => l.split('=')[0]).filter((k) => !['PWD', 'SHLVL', '_'].includes(k!));
      assert.deepEqual(env, ['PATH', 'STACKLY_T'], 'no variable added by the wrappers');
      await assert.rejects(run('echo out; echo Error: broken >&2; exit 3'), (e: unknown) => {
        assert.ok(e instanceof TofuError);
        assert.equal(e.exitCode, 3);
        assert.match(e.output, /Error: broken/);
        return true;
      });
    });

    it('leaves nothing of the command\'s group behind when it exits normally (no hang on inherited pipes)', async () => {
      const kid = join(dir, 'leftover.child');
      const t0 = Date.now();
      const sup = new GroupSupervisor();
      for (const c of [detected, { mode: 'process-group' as const, prefix: [], description: 'test', supervisor: sup }]) {
        rmSync(kid, { force: true });
        await run(`(sh -c '${recordPid(kid)}; exec sleep 100' &); while [ ! -s ${kid} ]; do sleep 0.05; done; echo done`, { containment: c });
        const pid = Number(readFileSync(kid, 'utf8'));
        const deadline = Date.now() + 3000;
        while (alive(pid) && Date.now() < deadline) await sleep(50);
        assert.equal(alive(pid), false, `${c.mode}: the background child was killed when the command ended`);
      }
      assert.ok(Date.now() - t0 < 15_000);
    });

    it('cancellation: SIGINT reaches the command in its group (it stops gracefully), well before the SIGKILL', async () => {
      const ac = new AbortController();
      const log = new RunLog((t) => t);
      const started = Date.now();
      const p = runTofu({
        bin: 'sh', args: ['-c', 'trap "echo got-sigint; exit 130" INT; echo ready; sleep 100 & wait'], cwd: dir, env: { PATH: process.env.PATH ?? '' },
        phase: 'apply', what: 'test command', redact: (t) => t, ctx: { heartbeat: () => undefined, signal: ac.signal }, log, graceMs: 20_000,
      });
      while (!log.text().includes('ready') && Date.now() - started < 10_000) await sleep(50);
      ac.abort();
      await assert.rejects(p, (e: unknown) => e instanceof CancelledFailure);
      assert.ok(Date.now() - started < 10_000, 'stopped on SIGINT, not after the 20 s grace');
      assert.match(log.text(), /got-sigint/);
    });
  });
});
