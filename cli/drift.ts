/**
 * `stackly drift …`: drift checks of stack states through the REST API.
 *
 *   stackly drift check <stack-code-id|name> --state <s> [--wait] [--json]   # POST /api/states/:id/drift
 *   stackly drift show  <stack-code-id|name> --state <s> [--limit N] [--json] # GET  /api/states/:id/drift
 *
 * `check --wait` follows the check (GET /api/runs/:id) and prints what it found: exit 0 when the
 * state matches its deployed code, 2 when drift was found (as tofu's -detailed-exitcode), 1 when the
 * check failed (the reason on stderr). `show` lists the state's checks, newest first, the newest with
 * its resources.
 */
import type { Command } from 'commander';
import { ApiClient, resolveConnection, withConnection, type ConnectionOptions, type Page, type RunBody } from './api-client';
import { findStackState, plainDisplay, jsonDisplay, watchRun } from './run';
import { actionSymbol, countsText } from './run-view';
import type { DriftReport, DriftResource } from '../workflows/model/drift';

/** GET /api/states/:id/drift items (api/views.ts driftCheckView). */
export interface DriftCheckBody {
  id: string;
  workflow_id: string | null;
  status: string;
  outcome: DriftReport['outcome'] | null;
  commit: string | null;
  triggered_by: string | null;
  started_at: string;
  completed_at: string | null;
  counts: DriftReport['counts'] | null;
  resources: DriftResource[];
  reason: string | null;
  remediation: DriftReport['remediation'] | null;
}

/** An error whose exit code is not 1 (cli/index.ts uses it): drift found is 2. */
export class ExitCodeError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** One line per drifted resource, Terraform's symbols: `  + terraform_data.b  create  (unit root)`. */
export function resourceLines(resources: readonly DriftResource[]): string[] {
  const width = Math.max(0, ...resources.map((r) => r.address.length));
  return resources.map((r) => {
    const { symbol, word } = actionSymbol(r.actions);
    return `  ${symbol.padStart(3)} ${r.address.padEnd(width)}  ${word}  (unit ${r.unit})`;
  });
}

export function remediationLine(r: DriftReport['remediation'] | null | undefined): string | undefined {
  if (!r) return undefined;
  if (r.runId) return `Remediation: run ${r.runId}${r.needsApproval ? ' waits for approval (stackly run approve ' + r.runId + ')' : ''}`;
  if (r.skipped) return `Remediation: none asked for: ${r.skipped}`;
  return undefined;
}

/** What one check found, as lines. */
export interface ReportLike {
  outcome: DriftReport['outcome'];
  resources: readonly DriftResource[];
  counts?: DriftReport['counts'] | null;
  reason?: string | null;
  remediation?: DriftReport['remediation'] | null;
  commit?: string | null;
}

export function reportText(what: string, d: ReportLike): string[] {
  const at = d.commit ? ` at ${d.commit.slice(0, 12)}` : '';
  if (d.outcome === 'none') return [`${what}${at}: no drift. The infrastructure matches the deployed code.`];
  if (d.outcome === 'failed') return [`${what}${at}: check failed: ${d.reason ?? 'unknown reason'}`];
  const lines = [`${what}${at}: drift in ${d.resources.length} resource${d.resources.length === 1 ? '' : 's'} (${countsText(d.counts ?? undefined)} to restore the code's intent)`, ...resourceLines(d.resources)];
  const rem = remediationLine(d.remediation);
  if (rem) lines.push(rem);
  return lines;
}

/** `stackly drift show`: the checks, newest first; the newest in full. */
export function showLines(stack: string, state: string, checks: readonly DriftCheckBody[]): string[] {
  if (checks.length === 0) return [`No drift checks of ${stack}/${state} yet.`];
  const lines: string[] = [];
  const [newest, ...older] = checks;
  const n = newest!;
  lines.push(...(n.outcome ? reportText(`Last check ${n.workflow_id} (${n.completed_at ?? n.started_at})`, { ...n, outcome: n.outcome })
    : [`Check ${n.workflow_id} is ${n.status === 'pending' ? 'queued' : n.status} (started ${n.started_at})`]));
  if (older.length) {
    lines.push('Earlier checks:');
    for (const c of older) {
      const found = c.outcome === 'drift' ? `drift (${c.resources.length})` : c.outcome === 'failed' ? `failed: ${c.reason ?? ''}` : c.outcome ?? c.status;
      lines.push(`  ${c.started_at}  ${c.workflow_id}  ${found}`);
    }
  }
  return lines;
}

interface Opts extends ConnectionOptions { state: string; json?: boolean }

async function resolveState(client: ApiClient, ref: string, stateName: string): Promise<{ stack: string; stateId: string }> {
  const { code, state } = await findStackState(client, ref, stateName);
  return { stack: code.name, stateId: state.id };
}


export function registerDrift(program: Command): void {
  const drift = program.command('drift').description('drift checks of stack states (through the REST API)');

  withConnection(drift.command('check'))
    .description('check a stack state for drift now (a plan of every unit at its deployed commit, queued like any run)')
    .argument('<stack>', 'stack code id, or its name')
    .requiredOption('--state <name>', 'the stack state to check')
    .option('--wait', 'follow the check and print what it found (exit 0 no drift, 2 drift, 1 failed)')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: Opts & { wait?: boolean }) => {
      const client = new ApiClient(resolveConnection(opts));
      const { stack, stateId } = await resolveState(client, ref, opts.state);
      const started = await client.request<{ run_id: string; commit: string }>(`checking ${stack}/${opts.state} for drift`, 'POST', `/api/states/${encodeURIComponent(stateId)}/drift`, {});
      if (!opts.wait) {
        process.stdout.write(opts.json ? JSON.stringify(started) + '\n' : `Queued drift check ${started.run_id} of ${stack}/${opts.state} at ${started.commit.slice(0, 12)}\nFollow it: stackly run show ${started.run_id} --watch\n`);
        return;
      }
      const display = opts.json ? jsonDisplay((s) => process.stdout.write(s)) : plainDisplay(started.run_id, (s) => process.stdout.write(s));
      const body: RunBody = await watchRun(client, started.run_id, { display, startGraceMs: 60_000 });
      const report = body.progress.drift;
      if (!report) throw new Error(`drift check ${started.run_id} ended ${body.progress.phase}${body.progress.error ? `: ${body.progress.error}` : ''}`);
      if (!opts.json) process.stdout.write(reportText(`Drift check ${started.run_id} of ${stack}/${opts.state}`, report).join('\n') + '\n');
      if (report.outcome === 'failed') throw new ExitCodeError(`drift check ${started.run_id} failed: ${report.reason ?? ''}`, 1);
      if (report.outcome === 'drift') throw new ExitCodeError(`drift found in ${stack}/${opts.state}: ${report.resources.map((r) => r.address).join(', ')}`, 2);
    });

  withConnection(drift.command('show'))
    .description('the drift checks of a stack state, newest first, the newest with its resources')
    .argument('<stack>', 'stack code id, or its name')
    .requiredOption('--state <name>', 'the stack state')
    .option('--limit <n>', 'how many checks', '10')
    .option('--json', 'print the API\'s JSON')
    .action(async (ref: string, opts: Opts & { limit: string }) => {
      const client = new ApiClient(resolveConnection(opts));
      const { stack, stateId } = await resolveState(client, ref, opts.state);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new Error('--limit must be an integer from 1 to 200');
      const page = await client.request<Page<DriftCheckBody>>(`reading the drift checks of ${stack}/${opts.state}`, 'GET', `/api/states/${encodeURIComponent(stateId)}/drift?limit=${limit}`);
      process.stdout.write(opts.json ? JSON.stringify(page, null, 2) + '\n' : showLines(stack, opts.state, page.items).join('\n') + '\n');
    });
}
