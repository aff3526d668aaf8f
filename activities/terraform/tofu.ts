/**
 * Running tofu (or terraform) as a child process inside an activity.
 *
 * - The environment is built from scratch: a few harmless variables of the worker (PATH, locale, CA
 *   bundle), the CLI config, the automation switches, and what the caller adds (the job's HOME and
 *   TMPDIR, the unit's own state credentials). Nothing else of the worker's environment (database
 *   URL, Vault token, its S3 keys) reaches tofu or the user's `local-exec` commands.
 * - tofu runs as the job's own user where the worker isolates jobs (sandbox.ts: `userPrefix`).
 * - While tofu runs, the activity heartbeats every few seconds with the phase and the last output
 *   line (redacted). Heartbeats are also how Temporal delivers cancellation to an activity.
 * - tofu and everything it starts die with the worker (a PID namespace of its own where possible,
 *   see Containment): a retry never overlaps an orphaned provisioner or a tofu still writing state.
 * - On cancellation tofu's process group gets SIGINT (it stops gracefully: provisioners are
 *   interrupted, state is written and the state lock released), SIGKILL after a grace period; then
 *   the cancellation is rethrown so Temporal sees the activity as cancelled.
 * - stdout/stderr go into a redacted log (uploaded to S3 by the caller); failures carry what was
 *   being done and the tail of the redacted output, and are classified (bad config: non-retryable;
 *   lock held; anything else: retryable).
 */
import { hostEnvironment } from '../../common/config';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { redactionSafeCut } from './log-stream';
import type { Redactor } from './redact';

/** What a tofu run needs from the activity context (a no-op outside an activity). */
export interface ActivityCtx {
  heartbeat(details: unknown): void;
  signal?: AbortSignal;
  /** Rejects with the SDK's CancelledFailure on cancellation. */
  cancelled?: Promise<never>;
}

export function currentActivityCtx(): ActivityCtx {
  try {
    const c = Context.current();
    return { heartbeat: (d) => c.heartbeat(d), signal: c.cancellationSignal, cancelled: c.cancelled };
  } catch {
    return { heartbeat: () => undefined };
  }
}

/**
 * Runs `fn` while heartbeating every `everyMs`: activities that check out or analyse code run under
 * the 30 s heartbeat timeout that tells a dead worker, and must not look dead while busy.
 */
export async function whileAlive<T>(
  phase: string, fn: () => Promise<T>, { ctx = currentActivityCtx(), everyMs = 3000 }: { ctx?: ActivityCtx; everyMs?: number } = {},
): Promise<T> {
  ctx.heartbeat({ phase });
  const timer = setInterval(() => ctx.heartbeat({ phase }), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Worker environment variables tofu may see; everything else of the worker's environment is withheld. */
const PASSED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

/**
 * Writes the worker's tofu CLI config (plugin cache shared by every unit run on this worker) and
 * returns its path. The machine's own TF_CLI_CONFIG_FILE is never used: a missing one makes tofu
 * print a warning on stdout, which breaks `show -json`.
 */
export function writeCliConfig(workDir: string): string {
  const pluginCache = join(workDir, 'plugin-cache');
  mkdirSync(pluginCache, { recursive: true });
  const file = join(workDir, 'tofu.rc');
  writeFileSync(file, `plugin_cache_dir = ${JSON.stringify(pluginCache)}\nplugin_cache_may_break_dependency_lock_file = true\ndisable_checkpoint = true\n`);
  return file;
}

export function tofuEnv(cliConfig: string, extra: Record<string, string>, base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED_ENV) { const v = base[k]; if (v !== undefined) env[k] = v; }
  return {
    ...env,
    TF_CLI_CONFIG_FILE: cliConfig,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    ...extra,
  };
}

/** Where a RunLog's redacted text goes as it is written: the phase (a section title's first word) and the text. */
export type LogSink = (phase: string, text: string) => void;

/**
 * A redacted, in-memory log of one activity's tofu runs (uploaded to S3 at the end), streamed as it
 * is written to `sink` (log-stream.ts: live logs). Text is redacted in pieces no secret straddles:
 * the end of what tofu wrote may wait for more output, `flush()` (tofu exited) lets it out.
 */
export class RunLog {
  private readonly parts: string[] = [];
  private pending = '';
  private phase = '';
  constructor(private readonly redact: Redactor, private readonly sink?: LogSink) {}
  /** Starts a phase: `init`, `plan`, `apply (after breaking …)`; the first word names the phase. */
  section(title: string): void {
    this.flush();
    this.phase = title.split(' ')[0] ?? title;
    this.emit(`\n=== ${title} (${new Date().toISOString()})\n`);
  }
  append(text: string): void {
    this.pending += text;
    const cut = redactionSafeCut(this.pending, this.redact.secrets ?? []);
    if (cut > 0) {
      this.emit(this.redact(this.pending.slice(0, cut)));
      this.pending = this.pending.slice(cut);
    }
  }
  /** Lets out what was held back (tofu exited: nothing more will complete a secret). */
  flush(): void {
    if (!this.pending) return;
    const rest = this.pending;
    this.pending = '';
    this.emit(this.redact(rest));
  }
  text(): string {
    this.flush();
    return this.parts.join('');
  }
  private emit(text: string): void {
    this.parts.push(text);
    this.sink?.(this.phase, text);
  }
}

export type FailureKind = 'config' | 'lock' | 'stale' | 'apply' | 'transient';

/** Diagnostics that mean the user's code or inputs are wrong: retrying cannot help. */
const CONFIG_ERRORS = [
  'Unsupported argument', 'Unsupported block type', 'Unsupported attribute', 'Missing required argument',
  'Invalid reference', 'Reference to undeclared', 'Invalid expression', 'Argument or block definition required',
  'Invalid block definition', 'Duplicate ', 'Unsuitable value type', 'Incorrect attribute value type',
  'Call to unknown function', 'Invalid function argument', 'Unknown variable', 'No value for required variable',
  'Invalid value for input variable', 'Invalid value for variable', 'Unreadable module directory', 'Module not installed',
  'Invalid character', 'Invalid multi-line string', 'Unclosed configuration block', 'Missing newline after',
  'Variables not allowed', 'Function calls not allowed', 'Invalid count argument', 'Invalid for_each argument',
  'Cycle:', 'Invalid index', 'Unsupported Terraform Core version', 'Unsupported OpenTofu Core version',
  'Failed to query available provider packages', 'Inconsistent dependency lock file', 'Invalid provider configuration',
  'Resource precondition failed', 'Resource postcondition failed', 'Invalid template interpolation value',
  'Error in function call', 'Invalid operand', 'Inconsistent conditional result types', 'Missing required provider',
  'Module source has changed', 'Invalid module source address', 'Failed to download module',
];

export function classifyFailure(output: string, phase: string): FailureKind {
  if (/Error acquiring the state lock/.test(output)) return 'lock';
  if (/Saved plan is stale|Saved plan does not match/i.test(output)) return 'stale';
  // Transient before config: an unreachable S3 endpoint during init reads like a config error otherwise.
  if (/connection refused|dial tcp|i\/o timeout|no such host|RequestError|ServiceUnavailable|SlowDown|InternalError|connection reset|TLS handshake timeout|EOF$/m.test(output)) return 'transient';
  const errorLines = output.split('\n').filter((l) => /(^|\s)Error: /.test(l)).join('\n');
  if (CONFIG_ERRORS.some((e) => errorLines.includes(e))) return 'config';
  if (phase === 'apply') return 'apply';
  return 'transient';
}

export const FAILURE_TYPES: Record<Exclude<FailureKind, 'transient'>, string> = {
  config: 'TerraformConfigError',
  lock: 'StateLocked',
  stale: 'StalePlan',
  apply: 'TerraformApplyError',
};

/** tofu exited non-zero. `output` is redacted. */
export class TofuError extends Error {
  constructor(message: string, readonly what: string, readonly kind: FailureKind, readonly exitCode: number | null, readonly output: string) {
    super(message);
    this.name = 'TofuError';
  }
}

/**
 * The failure Temporal should see: bad config, a stale plan and a failed apply are non-retryable
 * with a `type`; a held lock and anything unrecognised throw retryably (Temporal retries).
 */
export function toActivityFailure(e: TofuError): Error {
  if (e.kind === 'config' || e.kind === 'stale' || e.kind === 'apply') {
    return ApplicationFailure.nonRetryable(e.message, FAILURE_TYPES[e.kind]);
  }
  if (e.kind === 'lock') return ApplicationFailure.retryable(e.message, FAILURE_TYPES.lock);
  return e;
}

export interface RunTofuOptions {
  bin: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Short phase name for heartbeats and the log (init, plan, show, apply, output). */
  phase: string;
  /** What is being done, for error messages: "tofu plan of unit net". */
  what: string;
  redact: Redactor;
  /** Human output goes here; omitted for machine output (show -json, output -json). */
  log?: RunLog;
  ctx: ActivityCtx;
  heartbeatMs?: number;
  /** After SIGINT on cancellation, how long tofu gets before SIGKILL. */
  graceMs?: number;
  /** How tofu is tied to this process (default: what {@link processContainment} detected). */
  containment?: Containment;
  /** Exit codes besides 0 that are results, not failures (`plan -detailed-exitcode`: 2 = changes). */
  okExitCodes?: readonly number[];
  /** argv switching to the job's own user (sandbox.ts `Isolation.userPrefix`), after the containment's. */
  userPrefix?: string[];
}

const TAIL_LINES = 25;

/**
 * How tofu and everything it starts are tied to the life of this worker process, so that nothing
 * outlives a killed worker (a retried apply must never overlap an orphaned `local-exec` command):
 *
 * - `pid-namespace`: `setpriv --pdeathsig KILL -- unshare [--user --map-current-user] --pid --fork
 *   --kill-child -- tofu …` (util-linux). The worker's death kills `unshare` (PR_SET_PDEATHSIG), which
 *   kills tofu, the init of a PID namespace of its own; when that init dies the kernel kills every
 *   process in the namespace, even those that called setsid or double-forked. `--user` (an
 *   unprivileged user namespace, the worker's uid mapped to itself) is used where the worker may not
 *   create a PID namespace on its own (not root). /proc is not remounted: tofu sees the machine's.
 * - `process-group`: where no namespace can be made (a container without the capability, seccomp, not
 *   Linux): tofu runs in a process group of its own (under `setpriv --pdeathsig KILL` where it
 *   exists), and one small supervisor process per worker, which outlives the worker, SIGKILLs every
 *   such group it was told about when the worker's end of its stdin closes (the worker died).
 *   Processes that leave the group (setsid) escape it.
 * - `none`: neither (no process groups): tofu runs as a plain child; a warning is logged at start.
 *
 * In every mode tofu leads a process group of its own: cancellation sends SIGINT to that group (tofu
 * stops gracefully: provisioners are interrupted, state written, the lock released), SIGKILL of the
 * group after the grace period; whatever of the group is left when tofu exits is SIGKILLed too.
 */
export type ContainmentMode = 'pid-namespace' | 'process-group' | 'none';

export interface Containment {
  mode: ContainmentMode;
  /** argv put before tofu's own (the wrappers), possibly empty. */
  prefix: string[];
  /** What was chosen and why, for the worker's start-up log. */
  description: string;
  /** process-group mode: the supervisor that kills the groups when the worker dies. */
  supervisor?: GroupSupervisor;
}

/**
 * The supervisor of `process-group` mode: a detached node process, one per worker, reading
 * `+<pgid>` / `-<pgid>` lines on its stdin; when the stdin ends (the worker exited or was killed: the
 * kernel closes its end of the pipe) it SIGKILLs every group still registered and exits. It ignores
 * SIGINT/SIGTERM/SIGHUP so a Ctrl-C or a stop of the worker does not take it down first.
 */
const SUPERVISOR_SCRIPT = `
const groups = new Set();
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const g = Number(line.slice(1));
    if (!Number.isInteger(g) || g <= 1) continue;
    if (line[0] === '+') groups.add(g); else groups.delete(g);
  }
});
const end = () => { for (const g of groups) { try { process.kill(-g, 'SIGKILL'); } catch {} } process.exit(0); };
process.stdin.on('end', end);
process.stdin.on('error', end);
`;

export class GroupSupervisor {
  private child: ChildProcess | undefined;

  /** The supervisor's pid (started on first use), for tests. */
  get pid(): number | undefined { return this.ensure()?.pid; }

  private ensure(): ChildProcess | undefined {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null && this.child.stdin?.writable) return this.child;
    try {
      const child = spawn(process.execPath, ['-e', SUPERVISOR_SCRIPT], {
        stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: { PATH: hostEnvironment().PATH ?? '' },
      });
      child.on('error', () => { if (this.child === child) this.child = undefined; });
      child.on('exit', () => { if (this.child === child) this.child = undefined; });
      child.stdin!.on('error', () => undefined);
      // Neither the process nor its pipe keeps the worker's event loop alive.
      child.unref();
      (child.stdin as unknown as Socket).unref();
      this.child = child;
      return child;
    } catch {
      return undefined;
    }
  }

  /** Kill group `pgid` if this worker dies. */
  watch(pgid: number): boolean {
    const c = this.ensure();
    return c ? c.stdin!.write(`+${pgid}\n`) || true : false;
  }

  unwatch(pgid: number): void {
    if (this.child?.stdin?.writable) this.child.stdin.write(`-${pgid}\n`);
  }
}

/** An executable of that name on PATH (or in /usr/bin, /bin), or null; an absolute name if it exists. */
export function findExecutable(name: string, path: string | undefined): string | null {
  if (isAbsolute(name)) return existsSync(name) ? name : null;
  for (const dir of [...(path ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* not here */ }
  }
  return null;
}

/** unshare flags tried in order: a PID namespace (root, CAP_SYS_ADMIN), then inside a user namespace. */
const UNSHARE_VARIANTS: Array<{ flags: string[]; what: string }> = [
  { flags: ['--pid', '--fork', '--kill-child'], what: 'a PID namespace' },
  { flags: ['--user', '--map-current-user', '--pid', '--fork', '--kill-child'], what: 'a PID namespace inside a user namespace (uid mapped to itself)' },
  { flags: ['--user', '--map-root-user', '--pid', '--fork', '--kill-child'], what: 'a PID namespace inside a user namespace (uid mapped to root)' },
];

/**
 * Finds out once what this machine allows (see {@link Containment}): each PID-namespace variant is
 * tried with `sh -c 'echo $$'` (it must print 1), then the process-group supervisor, then none.
 */
export function detectContainment(path: string | undefined = hostEnvironment().PATH, platform: NodeJS.Platform = process.platform): Containment {
  const setpriv = platform === 'linux' ? findExecutable('setpriv', path) : null;
  const pdeath = setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
  const unshare = platform === 'linux' ? findExecutable('unshare', path) : null;
  const tried: string[] = [];
  if (setpriv && unshare) {
    for (const v of UNSHARE_VARIANTS) {
      const prefix = [...pdeath, unshare, ...v.flags, '--'];
      const r = spawnSync(prefix[0]!, [...prefix.slice(1), 'sh', '-c', 'echo $$'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
      if (r.status === 0 && r.stdout.trim() === '1') {
        return { mode: 'pid-namespace', prefix, description: `tofu runs as the init of ${v.what} (${[...prefix.slice(0, -1)].map((a) => a.replace(/^.*\//, '')).join(' ')}): everything it starts dies with the worker` };
      }
      tried.push(`unshare ${v.flags.join(' ')}: ${(r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`) || `exit ${r.status}`}`);
    }
  } else {
    tried.push(platform !== 'linux' ? `not Linux (${platform})` : `util-linux ${!setpriv ? 'setpriv' : 'unshare'} not found`);
  }
  if (platform !== 'win32') {
    return {
      mode: 'process-group', prefix: pdeath, supervisor: new GroupSupervisor(),
      description: `no PID namespace possible (${tried.join('; ')}): tofu runs in a process group of its own${setpriv ? ' under setpriv --pdeathsig KILL' : ''}, SIGKILLed by a supervisor process when the worker dies; children that call setsid escape it`,
    };
  }
  return { mode: 'none', prefix: [], description: `no PID namespace and no process groups on ${platform}: children of tofu may outlive a killed worker` };
}

let detected: Containment | undefined;

/** The containment of this process, detected on first use and cached (workers/main.ts detects it at start and logs it). */
export function processContainment(): Containment {
  detected ??= detectContainment();
  return detected;
}

/** The command line that runs tofu under `c`, as the job user `userPrefix` switches to (if any). */
export function tofuCommand(bin: string, args: string[], c: Containment = processContainment(), userPrefix: string[] = []): { command: string; args: string[] } {
  // Switching to the job's user clears the parent-death signal (PR_SET_PDEATHSIG is reset by any change
  // of the effective uid or gid), so the job's user must not be the PID namespace's init: tofu would
  // then outlive a killed worker. A small shell stays the init as the worker's user, with the death
  // signal `unshare --kill-child` gave it, and runs the switch to the job's user as its child; its
  // death ends the namespace and everything in it. Its SIGINT handler (`:`) is not inherited as
  // "ignored", so cancellation still reaches tofu, which shares its process group.
  const init = userPrefix.length ? ['/bin/sh', '-c', 'trap : INT; "$@"; exit $?', 'stackly-job-init'] : [];
  const argv = [...c.prefix, ...init, ...userPrefix, bin, ...args];
  return { command: argv[0]!, args: argv.slice(1) };
}

function tail(text: string, n = TAIL_LINES): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/** Runs tofu to completion; resolves with stdout, rejects with TofuError or the activity's cancellation. */
export function runTofu(o: RunTofuOptions): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const { ctx } = o;
  if (ctx.signal?.aborted) return Promise.reject(cancellation(ctx));
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // Own process group (SIGINT and SIGKILL reach tofu, providers and local-exec children), contained so
    // that it and everything it starts die with the worker (see Containment): never outliving the
    // worker that holds its lock, never overlapping the retry of its apply.
    const containment = o.containment ?? processContainment();
    const cmd = tofuCommand(o.bin, o.args, containment, o.userPrefix);
    const child = spawn(cmd.command, cmd.args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid;
    if (pgid !== undefined) containment.supervisor?.watch(pgid);
    const killGroup = (sig: NodeJS.Signals): void => {
      if (pgid === undefined) return;
      try { process.kill(-pgid, sig); } catch { /* already gone */ }
    };
    // Whatever tofu left running in its group goes with it (a PID namespace has ended already); a PID
    // is not reused while it names a live group, so this never reaches another one.
    child.once('exit', () => {
      killGroup('SIGKILL');
      if (pgid !== undefined) containment.supervisor?.unwatch(pgid);
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let lastLine = '';
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const remember = (b: Buffer): void => {
      const lines = b.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) lastLine = lines[lines.length - 1]!;
    };
    child.stdout.on('data', (b: Buffer) => { out.push(b); if (o.log) { o.log.append(b.toString('utf8')); remember(b); } });
    child.stderr.on('data', (b: Buffer) => { err.push(b); o.log?.append(b.toString('utf8')); remember(b); });

    const beat = (): void => {
      ctx.heartbeat({ phase: o.phase, what: o.what, elapsedMs: Date.now() - started, line: o.redact(lastLine).slice(0, 300) });
    };
    const timer = setInterval(beat, o.heartbeatMs ?? 3000);
    beat();

    const onAbort = (): void => {
      if (cancelled) return;
      cancelled = true;
      o.log?.append(`\n[stackly] activity cancelled: interrupting tofu (SIGINT)\n`);
      // To the group: in a PID namespace the wrapper (unshare) does not pass SIGINT on, tofu gets it directly.
      killGroup('SIGINT');
      killTimer = setTimeout(() => {
        o.log?.append(`\n[stackly] tofu did not stop within ${o.graceMs ?? 30_000} ms: SIGKILL\n`);
        killGroup('SIGKILL');
      }, o.graceMs ?? 30_000);
    };
    ctx.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e) => {
      clearInterval(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      reject(new Error(`${o.what}: starting ${o.bin}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      o.log?.flush();
      if (killTimer) clearTimeout(killTimer);
      ctx.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (cancelled) {
        o.log?.append(`\n[stackly] tofu stopped after cancellation (exit ${code ?? signal})\n`);
        return reject(cancellation(ctx));
      }
      if (code === 0 || (code !== null && o.okExitCodes?.includes(code))) return resolve({ stdout, stderr, exitCode: code });
      const output = o.redact(`${stderr}\n${o.log ? stdout : ''}`);
      const kind = classifyFailure(output, o.phase);
      const message = `${o.what}: exit ${code ?? signal}${kind === 'lock' ? ' (state locked)' : ''}\n${tail(output)}`;
      reject(new TofuError(message, o.what, kind, code, output));
    });
  });
}

function cancellation(_ctx: ActivityCtx): Error {
  return new CancelledFailure('activity cancelled; tofu was interrupted');
}
