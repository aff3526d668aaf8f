/**
 * Pure text of `stackly run …`: a run's progress (GET /api/runs/:id) as lines. No I/O here, so the
 * unit tests pin every line; cli/run.ts decides where the lines go (a redrawn block on a terminal,
 * appended lines otherwise).
 */
import type { RunPhase, RunProgress, UnitView } from '../workflows/definitions';

export type Counts = { add: number; change: number; destroy: number; replace: number };

const OK_PHASES: readonly RunPhase[] = ['succeeded', 'no_changes'];
// A superseded run applied nothing: a newer run of the state took its place (exit 1, naming that run).
const BAD_PHASES: readonly RunPhase[] = ['failed', 'rejected', 'cancelled', 'superseded'];

/** 0 when the run ended well, 1 when it failed, was rejected, cancelled or superseded; undefined while it goes on. */
export function exitCodeOf(phase: RunPhase): 0 | 1 | undefined {
  if (OK_PHASES.includes(phase)) return 0;
  if (BAD_PHASES.includes(phase)) return 1;
  return undefined;
}

export const phaseText = (p: string): string => p.replace(/_/g, ' ');

/** `+1 ~0 -0` (and `±2` when something is replaced). */
export function countsText(c: Counts | undefined): string {
  if (!c) return '';
  return `+${c.add} ~${c.change} -${c.destroy}${c.replace ? ` ±${c.replace}` : ''}`;
}

/** Terraform's own words: `Plan: 2 to add, 1 to change, 0 to destroy.` (replacements named when any). */
export function planLine(c: Counts): string {
  return `Plan: ${c.add} to add, ${c.change} to change, ${c.destroy} to destroy${c.replace ? `, ${c.replace} to replace` : ''}.`;
}

/** Terraform's plan symbols. */
export function actionSymbol(actions: readonly string[]): { symbol: string; word: string } {
  const has = (a: string) => actions.includes(a);
  if (has('delete') && has('create')) return actions[0] === 'create' ? { symbol: '+/-', word: 'replace (create first)' } : { symbol: '-/+', word: 'replace' };
  if (has('create')) return { symbol: '+', word: 'create' };
  if (has('update')) return { symbol: '~', word: 'update' };
  if (has('delete')) return { symbol: '-', word: 'destroy' };
  if (has('read')) return { symbol: '<=', word: 'read' };
  return { symbol: ' ', word: actions.join(',') || 'no-op' };
}

/** The review plan: the count line, then one line per changed address (sorted), or that nothing changes. */
export function planSummaryLines(review: NonNullable<RunProgress['review']>): string[] {
  if (review.changes.length === 0) return ['Plan: no changes. The infrastructure matches the configuration.'];
  const changes = [...review.changes].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const width = Math.max(...changes.map((c) => c.address.length));
  return [
    planLine(review.counts),
    ...changes.map((c) => {
      const { symbol, word } = actionSymbol(c.actions);
      return `  ${symbol.padStart(3)} ${c.address.padEnd(width)}  ${word}`;
    }),
  ];
}

const UNIT_MARK: Record<UnitView['status'], string> = {
  pending: '·', planning: '~', awaiting_approval: '?', applying: '>', succeeded: '✓', no_changes: '=', failed: '✗', skipped: '-',
};
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const busy = (s: UnitView['status']) => s === 'planning' || s === 'applying';

/** One status line per unit, names aligned; `frame` animates the units that are working (terminal only). */
export function unitLines(units: RunProgress['units'], frame?: number): string[] {
  const names = Object.keys(units);
  const width = Math.max(0, ...names.map((n) => n.length));
  return names.map((name) => {
    const u = units[name]!;
    const mark = frame !== undefined && busy(u.status) ? SPINNER[frame % SPINNER.length]! : UNIT_MARK[u.status] ?? '?';
    const counts = countsText(u.counts);
    const tail = [phaseText(u.status).padEnd(17), counts && counts.padEnd(12), u.reason].filter(Boolean).join(' ').trimEnd();
    return `  ${mark} ${name.padEnd(width)}  ${tail}`;
  });
}

/** `net/prod at 0123456789ab · planning (reason)`: the run id is said where the run starts and ends. */
export function headerLine(p: RunProgress): string {
  const what = p.stack ? `${p.stack}/${p.state ?? '?'}` : `${p.kind} run`;
  const kind = p.stack && p.kind !== 'deploy' ? ` (${p.kind})` : '';
  return `${what}${kind} at ${p.commit.slice(0, 12)} · ${phaseText(p.phase)}${p.waitingReason ? ` (${p.waitingReason})` : ''}`;
}

/** The block a terminal redraws in place. */
export function frameLines(p: RunProgress, frame?: number): string[] {
  const lines = [headerLine(p), ...unitLines(p.units, frame)];
  if (Object.keys(p.units).length === 0 && exitCodeOf(p.phase) === undefined) lines.push('  (units are listed once the stack is analysed)');
  return lines;
}

export function approveHint(runId: string, scope?: string): string[] {
  const s = scope && scope !== 'review' ? ` --scope ${scope}` : '';
  return [`  approve: stackly run approve ${runId}${s}`, `  reject:  stackly run reject ${runId}${s} --reason "…"`];
}

/**
 * What is said once, in both modes, as the run moves from `prev` to `next`: the plan summary when the
 * review plan is ready, that the run waits for approval (with the commands), a unit asking for
 * approval of a difference (addresses and reasons), each approval, and the root outputs at the end.
 */
export function noticeLines(runId: string, prev: RunProgress | undefined, next: RunProgress): string[] {
  const out: string[] = [];
  if (next.review && !prev?.review) out.push(...planSummaryLines(next.review));
  const waitingNow = next.phase === 'awaiting_approval';
  if (waitingNow && (prev?.phase !== 'awaiting_approval' || prev.waitingReason !== next.waitingReason)) {
    out.push(`Waiting for approval: ${next.waitingReason ?? 'the plan needs an approval'}`, ...approveHint(runId));
  }
  for (const [name, u] of Object.entries(next.units)) {
    if (u.status !== 'awaiting_approval' || prev?.units[name]?.status === 'awaiting_approval') continue;
    out.push(`Unit ${name} waits for approval: ${u.reason ?? 'its plan differs from the reviewed plan'}`);
    for (const d of u.differences ?? []) out.push(`    ${d.address}: ${d.reason}`);
    out.push(...approveHint(runId, `unit:${name}`));
  }
  for (const a of next.approvals.slice(prev?.approvals.length ?? 0)) {
    out.push(`  approved by ${a.by}${a.scope !== 'review' ? ` (${a.scope})` : ''}${a.comment ? `: ${a.comment}` : ''}`);
  }
  if (exitCodeOf(next.phase) === 0 && exitCodeOf(prev?.phase ?? 'starting') === undefined && next.outputs && Object.keys(next.outputs).length > 0) {
    out.push('Outputs:', ...Object.entries(next.outputs).map(([k, o]) => `  ${k} = ${o.sensitive ? '(sensitive)' : JSON.stringify(o.value)}`));
  }
  return out;
}

/** Plain mode: one line per change of phase, waiting reason and unit status. */
export function transitionLines(runId: string, prev: RunProgress | undefined, next: RunProgress): string[] {
  const out: string[] = [];
  if (!prev || prev.phase !== next.phase || prev.waitingReason !== next.waitingReason) out.push(headerLine(next));
  for (const [name, u] of Object.entries(next.units)) {
    const before = prev?.units[name];
    if (before && before.status === u.status && countsText(before.counts) === countsText(u.counts) && before.reason === u.reason) continue;
    const counts = countsText(u.counts);
    out.push(`  unit ${name}: ${phaseText(u.status)}${counts ? ` ${counts}` : ''}${u.reason ? ` (${u.reason})` : ''}`);
  }
  return out;
}

/** The last line: a success for stdout, or the message of the error that ends the command (exit 1). */
export function finalLine(runId: string, p: RunProgress): string {
  const applied = Object.values(p.units).filter((u) => u.status === 'succeeded').length;
  switch (p.phase) {
    case 'succeeded': return `Run ${runId} succeeded: ${applied} of ${Object.keys(p.units).length} units applied.`;
    case 'no_changes': return `Run ${runId} succeeded: no changes, nothing applied.`;
    case 'rejected': return `run ${runId} was rejected${p.error ? `: ${p.error}` : ''}`;
    case 'cancelled': return `run ${runId} was cancelled`;
    case 'superseded': return `run ${runId} was superseded${p.supersededBy ? ` by ${p.supersededBy}` : ''}${p.error ? `: ${p.error}` : ''}`;
    case 'failed': return `run ${runId} failed${p.error ? `: ${p.error}` : ''}`;
    default: return `run ${runId} is ${phaseText(p.phase)}`;
  }
}

/** `stackly run show` without --watch: everything known, once. */
export function reportLines(runId: string, p: RunProgress): string[] {
  const nothingYet: RunProgress = { ...p, phase: 'starting', waitingReason: undefined, review: undefined, units: {}, approvals: [], outputs: undefined };
  const lines = [...frameLines(p), ...noticeLines(runId, nothingYet, p)];
  if (exitCodeOf(p.phase) !== undefined) lines.push(finalLine(runId, p));
  return lines;
}
