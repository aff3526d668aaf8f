/**
 * Running tofu (or terraform) as a child process inside an activity.
 *
 * - The environment is built from scratch: a few harmless variables of the worker (PATH, HOME, …),
 *   the worker's own CLI config (TF_CLI_CONFIG_FILE, with a plugin cache shared by all units), the
 *   automation switches, and what the caller adds (backend credentials). Nothing else of the worker's
 *   environment (database URL, Vault token) reaches tofu or the user's `local-exec` commands.
 * - While tofu runs, the activity heartbeats every few seconds with the phase and the last output
 *   line (redacted). Heartbeats are also how Temporal delivers cancellation to an activity.
 * - On cancellation tofu gets SIGINT (it stops gracefully: provisioners are interrupted, state is
 *   written and the state lock released), SIGKILL of its process group after a grace period; then
 *   the cancellation is rethrown so Temporal sees the activity as cancelled.
 * - stdout/stderr go into a redacted log (uploaded to S3 by the caller); failures carry what was
 *   being done and the tail of the redacted output, and are classified (bad config: non-retryable;
 *   lock held; anything else: retryable).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
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

/** A redacted, in-memory log of one activity's tofu runs (uploaded to S3 at the end). */
export class RunLog {
  private readonly parts: string[] = [];
  constructor(private readonly redact: Redactor) {}
  section(title: string): void { this.parts.push(`\n=== ${title} (${new Date().toISOString()})\n`); }
  append(text: string): void { this.parts.push(this.redact(text)); }
  text(): string { return this.parts.join(''); }
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
  /** Called at every heartbeat tick while tofu runs (e.g. to claim the state lock). */
  onTick?: () => Promise<void>;
}

const TAIL_LINES = 25;

let setprivPath: string | null | undefined;

/**
 * util-linux `setpriv`, when this is Linux and it is installed: it sets PR_SET_PDEATHSIG and execs
 * tofu, so tofu is SIGKILLed when the worker process dies. tofu runs in its own process group (for a
 * clean interrupt on cancellation) and would otherwise outlive a killed worker and go on writing the
 * state while a retry on another worker, seeing the holder of its lock dead, breaks that lock.
 */
function findSetpriv(path: string | undefined): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const dir of [...(path ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, 'setpriv'), constants.X_OK);
      setprivPath = join(dir, 'setpriv');
      break;
    } catch { /* not here */ }
  }
  return setprivPath;
}

/** The command line that runs tofu and ties its life to this process where the platform allows. */
export function tofuCommand(bin: string, args: string[], path: string | undefined): { command: string; args: string[] } {
  const setpriv = findSetpriv(path);
  return setpriv ? { command: setpriv, args: ['--pdeathsig', 'KILL', '--', bin, ...args] } : { command: bin, args };
}

function tail(text: string, n = TAIL_LINES): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/** Runs tofu to completion; resolves with stdout, rejects with TofuError or the activity's cancellation. */
export function runTofu(o: RunTofuOptions): Promise<{ stdout: string; stderr: string }> {
  const { ctx } = o;
  if (ctx.signal?.aborted) return Promise.reject(cancellation(ctx));
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // Own process group, so SIGKILL after the grace period also reaches providers and local-exec children;
    // killed when the worker dies (tofuCommand), so it never outlives the worker that holds its lock.
    const cmd = tofuCommand(o.bin, o.args, o.env.PATH);
    const child = spawn(cmd.command, cmd.args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let lastLine = '';
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let tickBusy = false;
    const remember = (b: Buffer): void => {
      const lines = b.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) lastLine = lines[lines.length - 1]!;
    };
    child.stdout.on('data', (b: Buffer) => { out.push(b); if (o.log) { o.log.append(b.toString('utf8')); remember(b); } });
    child.stderr.on('data', (b: Buffer) => { err.push(b); o.log?.append(b.toString('utf8')); remember(b); });

    const beat = (): void => {
      ctx.heartbeat({ phase: o.phase, what: o.what, elapsedMs: Date.now() - started, line: o.redact(lastLine).slice(0, 300) });
      if (o.onTick && !tickBusy) {
        tickBusy = true;
        o.onTick().catch(() => undefined).finally(() => { tickBusy = false; });
      }
    };
    const timer = setInterval(beat, o.heartbeatMs ?? 3000);
    beat();

    const onAbort = (): void => {
      if (cancelled) return;
      cancelled = true;
      o.log?.append(`\n[stackly] activity cancelled: interrupting tofu (SIGINT)\n`);
      try { child.kill('SIGINT'); } catch { /* already gone */ }
      killTimer = setTimeout(() => {
        o.log?.append(`\n[stackly] tofu did not stop within ${o.graceMs ?? 30_000} ms: SIGKILL\n`);
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
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
      if (killTimer) clearTimeout(killTimer);
      ctx.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (cancelled) {
        o.log?.append(`\n[stackly] tofu stopped after cancellation (exit ${code ?? signal})\n`);
        return reject(cancellation(ctx));
      }
      if (code === 0) return resolve({ stdout, stderr });
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
