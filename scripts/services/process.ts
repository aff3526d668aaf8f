/** Child processes for the dev stack and the test harness: spawn with a log file, stop gracefully. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stop(timeoutMs?: number): Promise<void>;
}

const live = new Set<ManagedProcess>();
// A parent that exits (even on a crash) takes its services with it.
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

export function spawnService(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; cwd?: string },
): ManagedProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(handle);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (e) => {
      log.write(`\n[stackly] failed to start ${command}: ${e.message}\n`);
      live.delete(handle);
      resolve('spawn-error');
    });
  });
  const handle: ManagedProcess = {
    name,
    child,
    logFile: opts.logFile,
    exited,
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
  live.add(handle);
  return handle;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Polls `check` until it returns a truthy value. On timeout the error names what was awaited, the
 * last failure, and the log to read; it also stops early when the process has exited.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  opts: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'not ready';
  let exited: number | string | undefined;
  void opts.proc?.exited.then((c) => { exited = c; }); // only ever resolves
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    const where = opts.proc ? ` (log: ${opts.proc.logFile})` : '';
    if (exited !== undefined) throw new Error(`${what}: the process exited (${exited}) before it was ready${where}; last check: ${last}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs / 1000} s${where}; last check: ${last}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
