/**
 * `stackly run …`: runs of stack states through the REST API.
 *
 *   stackly run start <stack-code-id|name> --state <s> [--wait] [--json]
 *   stackly run show <run-id> [--watch] [--json]
 *   stackly run approve <run-id> [--comment <text>] [--scope review|unit:<name>]
 *   stackly run reject <run-id> --reason <text> [--scope …]
 *   stackly run cancel <run-id>
 *   stackly run logs <run-id> [--unit U] [--phase P] [-f]   (run-logs.ts)
 *
 * Waiting (`start --wait`, `show --watch`) polls GET /api/runs/:id: on a terminal the unit lines are
 * redrawn in place (log-update), otherwise a line is appended per change. The plan summary, the
 * approval commands and the outputs are printed once. Exit code 0 when the run succeeds, 1 when it
 * fails, is rejected or cancelled (the one-line reason goes to stderr), 1 for any API error.
 */
import type { Command } from 'commander';
import { createLogUpdate } from 'log-update';
import { ApiClient, ApiRequestError, resolveConnection, withConnection, type ConnectionOptions, type RunBody, type StackCodeWithStates } from './api-client';
import { exitCodeOf, finalLine, frameLines, noticeLines, reportLines, transitionLines } from './run-view';
import { failedUnitTails, followRunLog, printRunLog } from './run-logs';
import type { RunProgress } from '../workflows/definitions';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where the lines of a watched run go. */
export interface Display {
  /** The run is not visible yet (just started). */
  starting(runId: string): void;
  update(body: RunBody): void;
  /** Leaves what is shown in place (the terminal's last frame stays in the scrollback). */
  stop(): void;
}

type Write = (s: string) => void;

/** Appended lines: for pipes, files and CI logs. */
export function plainDisplay(runId: string, write: Write): Display {
  let prev: RunProgress | undefined;
  let saidStarting = false;
  return {
    starting() {
      if (!saidStarting) write(`Run ${runId}: starting\n`);
      saidStarting = true;
    },
    update(body) {
      const lines = [...transitionLines(runId, prev, body.progress), ...noticeLines(runId, prev, body.progress)];
      if (lines.length) write(lines.join('\n') + '\n');
      prev = body.progress;
    },
    stop() {},
  };
}

/** One JSON line (the API's body) per change. */
export function jsonDisplay(write: Write): Display {
  let last = '';
  return {
    starting() {},
    update(body) {
      const s = JSON.stringify(body);
      if (s !== last) write(s + '\n');
      last = s;
    },
    stop() {},
  };
}

/** A terminal: the header and unit lines redrawn in place, notices persisted above them. */
export function terminalDisplay(runId: string, stream: NodeJS.WriteStream): Display {
  const log = createLogUpdate(stream);
  let prev: RunProgress | undefined;
  let frame = 0;
  const draw = () => {
    if (prev) log(frameLines(prev, frame).join('\n'));
    else log(`Run ${runId}: starting ${frameChar(frame)}`);
  };
  const timer = setInterval(() => { frame++; draw(); }, 120);
  timer.unref();
  return {
    starting() { draw(); },
    update(body) {
      const notices = noticeLines(runId, prev, body.progress);
      prev = body.progress;
      if (notices.length) log.persist(notices.join('\n'));
      draw();
    },
    stop() {
      clearInterval(timer);
      if (prev) log(frameLines(prev).join('\n'));
      log.done();
    },
  };
}

const frameChar = (f: number) => ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'][f % 10];

export interface WatchOptions {
  display: Display;
  intervalMs?: number;
  /** A run just started is not visible for a moment (its operation row comes with the workflow): 404s are waited out this long. */
  startGraceMs?: number;
  /** Consecutive transient failures (API unreachable, 502/503) tolerated before giving up. */
  maxTransient?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls the run until it ends; returns its last body. API errors other than transient ones end the watch. */
export async function watchRun(client: Pick<ApiClient, 'run'>, runId: string, o: WatchOptions): Promise<RunBody> {
  const sleep = o.sleep ?? delay;
  const now = o.now ?? Date.now;
  const t0 = now();
  let transient = 0;
  try {
    for (;;) {
      let body: RunBody;
      try {
        body = await client.run(runId);
        transient = 0;
      } catch (e) {
        if (!(e instanceof ApiRequestError)) throw e;
        if (e.status === 404 && now() - t0 < (o.startGraceMs ?? 0)) {
          o.display.starting(runId);
          await sleep(o.intervalMs ?? 1000);
          continue;
        }
        if ((e.status === 0 || e.status === 502 || e.status === 503) && ++transient <= (o.maxTransient ?? 10)) {
          await sleep(o.intervalMs ?? 1000);
          continue;
        }
        throw e;
      }
      o.display.update(body);
      if (exitCodeOf(body.progress.phase) !== undefined) return body;
      await sleep(o.intervalMs ?? 1000);
    }
  } finally {
    o.display.stop();
  }
}

/** The stack code named by id or by name (an active one; several with that name must be told apart by id). */
/** A state of a stack code (by id or name), or an error naming the states it has. */
export async function findStackState(client: Pick<ApiClient, 'stackCode' | 'stackCodesNamed'>, ref: string, stateName: string) {
  const code = await findStackCode(client, ref);
  const state = code.states.find((s) => s.name === stateName);
  if (!state) throw new Error(`stack ${code.name} has no state "${stateName}" (its states: ${code.states.map((s) => s.name).join(', ') || 'none'})`);
  return { code, state };
}

export async function findStackCode(client: Pick<ApiClient, 'stackCode' | 'stackCodesNamed'>, ref: string): Promise<StackCodeWithStates> {
  if (UUID.test(ref)) return client.stackCode(ref);
  const named = await client.stackCodesNamed(ref);
  const active = named.filter((c) => c.status === 'active');
  if (active.length === 1) return client.stackCode(active[0]!.id);
  if (active.length > 1) {
    throw new Error(`${active.length} active stack codes are named "${ref}"; pass one's id: ${active.map((c) => `${c.id} (${c.repo_url} ${c.repo_path})`).join(', ')}`);
  }
  if (named.length) throw new Error(`the stack code named "${ref}" is ${named.map((c) => c.status).join('/')}, not active`);
  throw new Error(`no stack code named "${ref}"`);
}

interface CommonOpts extends ConnectionOptions { json?: boolean }

function connect(opts: ConnectionOptions): ApiClient {
  return new ApiClient(resolveConnection(opts));
}

function displayFor(runId: string, json: boolean | undefined): Display {
  if (json) return jsonDisplay((s) => process.stdout.write(s));
  if (process.stdout.isTTY) return terminalDisplay(runId, process.stdout);
  return plainDisplay(runId, (s) => process.stdout.write(s));
}

/** Waits for the run's end; a run that did not succeed ends the command with its reason (exit 1). */
async function follow(client: ApiClient, runId: string, opts: { json?: boolean; startGraceMs?: number; tails?: boolean }): Promise<void> {
  const display = displayFor(runId, opts.json);
  // Ctrl-C stops watching, not the run: say how to pick it up again.
  const onSigint = () => {
    display.stop();
    process.stderr.write(`\nstackly: stopped watching; run ${runId} goes on (stackly run show ${runId} --watch)\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const body = await watchRun(client, runId, { display, startGraceMs: opts.startGraceMs ?? 0 });
    if (exitCodeOf(body.progress.phase) !== 0) {
      // What tofu said: the end of each failed unit's log.
      if (opts.tails && !opts.json && body.progress.phase === 'failed') {
        const failed = Object.entries(body.progress.units).filter(([, u]) => u.status === 'failed').map(([name]) => name);
        process.stderr.write(await failedUnitTails(client, runId, failed));
      }
      throw new Error(finalLine(runId, body.progress));
    }
    if (!opts.json) process.stdout.write(finalLine(runId, body.progress) + '\n');
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}


const scopeOption = ['--scope <scope>', '"review" (the plan) or "unit:<name>" (a unit\'s difference from it)', 'review'] as const;

export function registerRun(program: Command): void {
  const run = program.command('run').description('start, follow, approve, reject and cancel runs of stack states (through the REST API)');

  withConnection(run.command('start'))
    .description('start a run of a stack state at its stack code\'s current commit')
    .argument('<stack>', 'stack code id, or its name')
    .requiredOption('--state <name>', 'the stack state to run')
    .option('--wait', 'follow the run until it ends (exit 0 succeeded, 1 failed/rejected/cancelled)')
    .option('--json', 'print JSON (with --wait: one line per change)')
    .action(async (ref: string, opts: CommonOpts & { state: string; wait?: boolean }) => {
      const client = connect(opts);
      const { code, state } = await findStackState(client, ref, opts.state);
      const started = await client.startRun(state.id, `${code.name}/${state.name}`);
      const runId = started.workflow_id;
      if (opts.json && !opts.wait) {
        process.stdout.write(JSON.stringify(started) + '\n');
        return;
      }
      if (!opts.json) {
        process.stdout.write(`Started run ${runId} of ${code.name}/${state.name} at ${(started.commit ?? code.current_commit).slice(0, 12)}\n`);
        if (!opts.wait) process.stdout.write(`Follow it: stackly run show ${runId} --watch\n`);
      }
      if (opts.wait) await follow(client, runId, { json: opts.json, startGraceMs: 60_000, tails: true });
    });

  withConnection(run.command('show'))
    .description('a run\'s phase, units and plan summary; --watch follows it live until it ends')
    .argument('<run-id>', 'the run (workflow) id')
    .option('--watch', 'follow the run until it ends (exit 0 succeeded, 1 failed/rejected/cancelled)')
    .option('--json', 'print the API\'s JSON (with --watch: one line per change)')
    .action(async (runId: string, opts: CommonOpts & { watch?: boolean }) => {
      const client = connect(opts);
      if (opts.watch) return follow(client, runId, { json: opts.json });
      const body = await client.run(runId);
      process.stdout.write(opts.json ? JSON.stringify(body, null, 2) + '\n' : reportLines(runId, body.progress).join('\n') + '\n');
    });

  withConnection(run.command('logs'))
    .description('tofu\'s output of a run (sensitive values redacted), "[unit phase] line"; -f follows it until the run ends')
    .argument('<run-id>', 'the run (workflow) id')
    .option('--unit <unit>', 'only this unit (_review: the review plan)')
    .option('--phase <phase>', 'only this phase (init, plan, apply, …)')
    .option('-f, --follow', 'print new output as it comes until the run ends (exit 0 when it ends, whatever its outcome)')
    .action(async (runId: string, opts: ConnectionOptions & { unit?: string; phase?: string; follow?: boolean }) => {
      const client = connect(opts);
      const filter = { ...(opts.unit ? { unit: opts.unit } : {}), ...(opts.phase ? { phase: opts.phase } : {}) };
      const out = (s: string) => { if (s) process.stdout.write(s); };
      if (!opts.follow) return printRunLog(client, runId, filter, out);
      const end = await followRunLog(client, runId, filter, { out, note: (s) => process.stderr.write(s) });
      process.stderr.write(`stackly: run ${runId} ended (${end.status})\n`);
    });

  withConnection(run.command('approve'))
    .description('approve the run\'s plan (or, with --scope unit:<name>, a unit\'s difference from it)')
    .argument('<run-id>', 'the run (workflow) id')
    .option('--comment <text>', 'a comment stored with the approval')
    .option(...scopeOption)
    .action(async (runId: string, opts: CommonOpts & { comment?: string; scope: string }) => {
      const r = await connect(opts).approve(runId, { scope: opts.scope, ...(opts.comment ? { comment: opts.comment } : {}) });
      process.stdout.write(`Approved run ${runId} (${r.scope}) as ${r.by}\n`);
    });

  withConnection(run.command('reject'))
    .description('reject the run: it ends without applying (exit code 1 for whoever waits on it)')
    .argument('<run-id>', 'the run (workflow) id')
    .requiredOption('--reason <text>', 'why (stored and shown in the run)')
    .option(...scopeOption)
    .action(async (runId: string, opts: CommonOpts & { reason: string; scope: string }) => {
      const r = await connect(opts).reject(runId, { scope: opts.scope, reason: opts.reason });
      process.stdout.write(`Rejected run ${runId} as ${r.by}\n`);
    });

  withConnection(run.command('cancel'))
    .description('cancel the run (running tofu is interrupted so its state lock is released)')
    .argument('<run-id>', 'the run (workflow) id')
    .action(async (runId: string, opts: CommonOpts) => {
      const r = await connect(opts).cancel(runId);
      process.stdout.write(`Cancelling run ${runId} (asked by ${r.by})\n`);
    });
}
