/**
 * The one comment Stackly keeps on a pull request: each planned stack state's summary (counts, the
 * addresses that change and how; never values, so no sensitive attribute can show) and its policy
 * decisions. Pure: rendered by the control activity that writes it into the outbox.
 */
import type { PullRequestPlanResult, PullRequestReport } from '../workflows/model/pull-request';
import type { GithubStatusState } from '../db/tables/github';
import { countsText } from './github-status';

/** GitHub refuses comments over 65,536 characters; leave room for the marker. */
const MAX_BODY = 60_000;
const MAX_CHANGES_SHOWN = 50;

const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const SYMBOL: Record<string, string> = { create: '+', update: '~', delete: '-', replace: '±' };
const symbolOf = (actions: string[]) => (actions.includes('delete') && actions.includes('create') ? SYMBOL.replace! : SYMBOL[actions[0] ?? ''] ?? '?');

function resultText(r: PullRequestPlanResult): string {
  switch (r.status) {
    case 'pending': return 'planning…';
    case 'cancelled': return 'cancelled';
    case 'failed': return `failed: ${r.error ?? 'unknown error'}`;
    default: {
      const denied = (r.decisions ?? []).filter((d) => d.outcome === 'deny');
      const c = r.counts ? countsText(r.counts) : '';
      return denied.length ? `${c}, refused by policy` : (r.changes?.length ? c : 'no changes');
    }
  }
}

/** The comment's markdown (without the marker, which the notifier adds). */
export function renderPullRequestComment(report: PullRequestReport): string {
  const head = report.headSha.slice(0, 12);
  const lines: string[] = [];
  const title = report.phase === 'cancelled' ? `Stackly: plans of ${code(head)} cancelled`
    : report.phase === 'planning' ? `Stackly is planning ${code(head)}…` : `Stackly plan of ${code(head)}`;
  lines.push(`### ${title}`, '');
  if (report.results.length === 0) {
    lines.push('This pull request changes no registered stack: nothing to plan.');
  } else {
    lines.push('| stack | state | plan |', '| --- | --- | --- |');
    for (const r of report.results) lines.push(`| ${cell(r.stack)} (${code(r.repoPath)}) | ${cell(r.state)} | ${cell(resultText(r))} |`);
  }
  for (const r of report.results.filter((x) => x.status === 'planned' || (x.decisions?.length ?? 0) > 0)) {
    const changes = r.changes ?? [];
    const decisions = r.decisions ?? [];
    if (changes.length === 0 && decisions.length === 0) continue;
    lines.push('', `<details><summary>${cell(r.stack)} / ${cell(r.state)}: ${cell(resultText(r))}</summary>`, '');
    if (changes.length) {
      lines.push('```diff');
      for (const c of changes.slice(0, MAX_CHANGES_SHOWN)) lines.push(`${symbolOf(c.actions)} ${c.address} (${c.actions.join(', ')})`);
      if (changes.length > MAX_CHANGES_SHOWN) lines.push(`… and ${changes.length - MAX_CHANGES_SHOWN} more`);
      lines.push('```');
    }
    if (decisions.length) {
      lines.push('', '**Policies**', '');
      for (const d of decisions) lines.push(`- ${d.outcome === 'deny' ? '⛔' : d.outcome === 'allow' || d.outcome === 'pass' ? '✅' : 'ℹ️'} ${code(`${d.policy}/${d.rule}`)} ${cell(d.outcome)}${d.address ? ` ${code(d.address)}` : ''}: ${cell(d.message)}`);
    }
    lines.push('', '</details>');
  }
  if (report.newStacks.length) lines.push('', `New stacks (planned once merged and registered): ${report.newStacks.map(code).join(', ')}.`);
  if (report.removedStacks.length) lines.push('', `Stacks removed by this pull request (their states become loose or are destroyed once merged): ${report.removedStacks.map(code).join(', ')}.`);
  lines.push('', `<sub>A review plan of the pull request's head: nothing is applied, no state is locked. Run ${code(report.workflowId)}.</sub>`);
  let body = lines.join('\n');
  if (body.length > MAX_BODY) body = `${body.slice(0, MAX_BODY)}\n\n… (cut: too long for a comment)`;
  return body;
}

/** The status of one stack state's plan on the head commit. */
export function planStatusOf(r: PullRequestPlanResult): { state: GithubStatusState; description: string } {
  switch (r.status) {
    case 'pending': return { state: 'pending', description: 'planning' };
    case 'cancelled': return { state: 'error', description: 'plan cancelled' };
    case 'failed': return { state: 'failure', description: `plan failed: ${r.error ?? 'unknown error'}` };
    default: {
      const denied = (r.decisions ?? []).filter((d) => d.outcome === 'deny');
      if (denied.length) return { state: 'failure', description: `plan ${r.counts ? countsText(r.counts) : ''} refused by policy: ${denied.map((d) => `${d.policy}/${d.rule}`).join(', ')}` };
      return { state: 'success', description: r.changes?.length ? `plan: ${r.counts ? countsText(r.counts) : ''}` : 'plan: no changes' };
    }
  }
}

/** What the comment says when a fork's pull request is not planned. */
export function forkRefusedComment(head: string, fork: string): string {
  return [
    `### Stackly did not plan ${code(head.slice(0, 12))}`, '',
    `This pull request comes from a fork (${code(fork)}). Planning runs the pull request's code (providers, data sources, external programs) on Stackly's workers with the stack's variables,`,
    'so pull requests from forks are not planned unless the repository allows it (`allow_fork_prs` of its GitHub connection).',
  ].join('\n');
}
