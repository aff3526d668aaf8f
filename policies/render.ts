/**
 * Renderers, kept apart from the decisions: plain text for the CLI and API, JSON for machines.
 * Pure: no imports beyond types.
 */
import type { Decision, PolicyError, Summary } from './types';

const MARK: Record<Decision['outcome'], string> = {
  allow: 'ok   ',
  warn: 'warn ',
  deny: 'DENY ',
  queue: 'QUEUE',
  require_approval: 'APPROVAL',
};

/** "policies/a.hcl:12: policy "x", field schedule.allowed_hours[0]: message" */
export function formatPolicyError(e: PolicyError): string {
  const where = e.line !== undefined ? `${e.file}:${e.line}` : e.file;
  const what = [e.policy !== undefined ? `policy "${e.policy}"` : '', e.hook !== undefined ? `hook "${e.hook}"` : '', e.field !== undefined ? `field ${e.field}` : ''].filter(Boolean).join(', ');
  return `${where}: ${what ? `${what}: ` : ''}${e.message}`;
}

export function renderErrorsText(errors: readonly PolicyError[]): string {
  return errors.map((e) => `error ${formatPolicyError(e)}`).join('\n');
}

export function formatDecision(d: Decision): string {
  const parts = [`${MARK[d.outcome]} ${d.policy}/${d.rule}: ${d.message}`];
  if (d.address !== undefined && !d.message.includes(d.address)) parts.push(`[${d.address}]`);
  if (d.until !== undefined && d.outcome === 'queue') parts.push(`(until ${d.until})`);
  return parts.join(' ');
}

export function renderDecisionsText(decisions: readonly Decision[], summary?: Summary): string {
  const lines = decisions.map(formatDecision);
  if (summary) {
    const until = summary.until !== undefined ? ` until ${summary.until}` : '';
    lines.push(`verdict: ${summary.verdict}${until}${summary.reasons.length > 0 ? ` (${summary.reasons.length} reason${summary.reasons.length === 1 ? '' : 's'})` : ''}`);
  }
  return lines.join('\n');
}

export function renderJson(value: { decisions?: readonly Decision[]; summary?: Summary; errors?: readonly PolicyError[] } & Record<string, unknown>): string {
  return JSON.stringify(value, null, 2);
}
