/**
 * The policy engine's decision function. Pure and deterministic: safe to import from Temporal
 * workflow code. The current time, plan JSON, approvals and author are all inputs.
 */
import { countApprovals } from './approvals';
import { describeWindow, formatLocal, isWindowOpen, nextWindowOpening, toEpochMs } from './schedule';
import { checkPlanShape, evaluateSecurity } from './security';
import type { Decision, EvaluationContext, Outcome, Policy, Severity, Stage, Summary } from './types';

export interface EvaluateInput {
  /** The stack's policies (see `resolveStackPolicies`), or a name → policy record. */
  policies: readonly Policy[] | Readonly<Record<string, Policy>>;
  stage: Stage;
  context: EvaluationContext;
}

export function severityOf(outcome: Outcome): Severity {
  switch (outcome) {
    case 'deny':
      return 'error';
    case 'warn':
      return 'warning';
    default:
      return 'info';
  }
}

function d(policy: Policy, rule: Decision['rule'], outcome: Outcome, message: string, extra: Partial<Decision> = {}): Decision {
  return { policy: policy.name, rule, outcome, severity: severityOf(outcome), message, ...extra };
}

/** Does the policy apply to this run? A policy without `environment` applies everywhere. */
export function appliesTo(policy: Policy, context: Pick<EvaluationContext, 'environment' | 'state'>): boolean {
  if (policy.environment === undefined) return true;
  return policy.environment === context.environment || policy.environment === context.state;
}

/**
 * Evaluates the policies for one stage:
 * - `pre_plan`: compliance. Closed deployment windows give `warn` (planning is harmless; apply is
 *   gated), approval policies give an `allow` that says approval will be needed before apply.
 * - `post_plan`: security rules over `context.plan` (required when a policy has security rules;
 *   a missing or malformed plan is a `deny`).
 * - `pre_apply`: deployment windows (`queue` with `until`, or `deny` for on_violation = "reject")
 *   and approvals (`require_approval` until satisfied, `deny` on a valid rejection).
 * Policies whose `environment` does not match give one `allow` saying so.
 */
export function evaluate({ policies, stage, context }: EvaluateInput): Decision[] {
  const list: Policy[] = Array.isArray(policies) ? [...policies] : Object.values(policies as Record<string, Policy>);
  const out: Decision[] = [];
  const now = toEpochMs(context.now);

  for (const policy of list) {
    if (!appliesTo(policy, context)) {
      const env = [context.environment, context.state].filter((x) => x !== undefined).join('/') || '(none)';
      out.push(d(policy, 'environment', 'allow', `applies to environment "${policy.environment}", not ${env}`));
      continue;
    }

    if (policy.window && (stage === 'pre_plan' || stage === 'pre_apply')) {
      out.push(windowDecision(policy, stage, now));
    }

    if (policy.approval && (stage === 'pre_plan' || stage === 'pre_apply')) {
      out.push(approvalDecision(policy, stage, context));
    }

    if (policy.security && stage === 'post_plan') {
      if (context.plan === undefined) {
        out.push(d(policy, 'plan', 'deny', `policy "${policy.name}" has security rules but no plan JSON was given`));
        continue;
      }
      const plan = checkPlanShape(context.plan);
      if (typeof plan === 'string') {
        out.push(d(policy, 'plan', 'deny', plan));
        continue;
      }
      out.push(...evaluateSecurity(policy, policy.security, plan));
    }
  }
  return out;
}

function windowDecision(policy: Policy, stage: Stage, now: number): Decision {
  const w = policy.window!;
  const desc = describeWindow(w);
  if (isWindowOpen(w, now)) return d(policy, 'deployment_window', 'allow', `inside deployment window ${desc}`);
  const next = nextWindowOpening(w, now);
  const nextText = next === undefined ? 'it never opens' : `it next opens ${formatLocal(next, w.timezone)} (${new Date(next).toISOString()})`;
  const until = next === undefined ? {} : { until: new Date(next).toISOString() };
  if (stage === 'pre_plan') {
    const then = w.onViolation === 'queue' ? 'apply will wait' : 'apply will be rejected unless it opens first';
    return d(policy, 'deployment_window', 'warn', `outside deployment window ${desc}; ${then}; ${nextText}`, until);
  }
  if (w.onViolation === 'reject' || next === undefined)
    return d(policy, 'deployment_window', 'deny', `outside deployment window ${desc}; ${nextText}`, until);
  return d(policy, 'deployment_window', 'queue', `outside deployment window ${desc}; queued until ${formatLocal(next, w.timezone)}`, until);
}

function approvalDecision(policy: Policy, stage: Stage, context: EvaluationContext): Decision {
  const rule = policy.approval!;
  const groups = rule.allowedGroups.length > 0 ? ` from ${rule.allowedGroups.join(', ')}` : '';
  const status = { minApprovers: rule.minApprovers, allowedGroups: rule.allowedGroups, allowAuthor: rule.allowAuthor, approvedBy: [] as string[] };
  if (!rule.required) return d(policy, 'approval', 'allow', 'approval not required');
  const who = `${rule.minApprovers} approver${rule.minApprovers === 1 ? '' : 's'}${groups}`;
  if (stage === 'pre_plan') return d(policy, 'approval', 'allow', `apply will need ${who}`, { approval: status });

  const c = countApprovals(rule, context.approvals ?? [], { author: context.author });
  status.approvedBy = c.counted;
  if (c.rejected)
    return d(policy, 'approval', 'deny', `rejected by ${c.rejectedBy}`, { approval: { ...status, rejectedBy: c.rejectedBy } });
  if (c.satisfied) return d(policy, 'approval', 'allow', `approved by ${c.counted.join(', ')}`, { approval: status });
  const have = c.counted.length > 0 ? `; approved so far by ${c.counted.join(', ')}` : '';
  return d(policy, 'approval', 'require_approval', `needs ${who}; ${c.missing} more${have}`, { approval: status });
}

/**
 * Overall verdict: deny wins, then queue, then require_approval, else allow. `reasons` are the
 * decisions with the winning outcome; `warnings` are all `warn` decisions.
 */
export function summarize(decisions: readonly Decision[]): Summary {
  const warnings = decisions.filter((x) => x.outcome === 'warn');
  for (const verdict of ['deny', 'queue', 'require_approval'] as const) {
    const reasons = decisions.filter((x) => x.outcome === verdict);
    if (reasons.length === 0) continue;
    if (verdict !== 'queue') return { verdict, reasons, warnings };
    const until = reasons.map((r) => r.until).filter((u): u is string => u !== undefined).sort().at(-1);
    return { verdict, reasons, warnings, ...(until !== undefined ? { until } : {}) };
  }
  return { verdict: 'allow', reasons: [], warnings };
}
