/**
 * The policy gates of StackRunWorkflow (issue 7), as pure functions over the policy engine:
 * security rules over the plan (decisions come from an activity), approvals per policy and
 * deployment windows before apply. Workflow-safe: imports only the pure policy engine and types;
 * the current time is an argument (the workflow clock).
 */
import { evaluate, summarize, type Approval, type Decision, type Policy, type Summary } from '../policies';
import type { ApproveSignal, RejectSignal } from './definitions';

export interface GateContext {
  policies: readonly Policy[];
  environment?: string;
  state?: string;
  /** Author of the pushed commit. */
  author?: string;
}

/** A decision as stored in an event payload: no plan values, only the address. */
export interface DecisionRecord {
  policy: string;
  rule: string;
  outcome: string;
  message: string;
  address?: string;
  until?: string;
}

export function decisionRecords(decisions: readonly Decision[]): DecisionRecord[] {
  return decisions.map((d) => ({
    policy: d.policy, rule: d.rule, outcome: d.outcome, message: d.message,
    ...(d.address !== undefined ? { address: d.address } : {}),
    ...(d.until !== undefined ? { until: d.until } : {}),
  }));
}

/** Signals → engine approvals. Groups are whatever the API authenticated (never the request body). */
export function toApprovals(approvals: readonly ApproveSignal[], rejection?: RejectSignal, scope = 'review'): Approval[] {
  const out: Approval[] = approvals
    .filter((a) => (a.scope ?? 'review') === scope)
    .map((a) => ({ approver: a.by, groups: [...(a.groups ?? [])], decision: 'approve' as const }));
  if (rejection && (rejection.scope ?? 'review') === scope) out.push({ approver: rejection.by, groups: [...(rejection.groups ?? [])], decision: 'reject' });
  return out;
}

const onlyRule = (decisions: Decision[], rule: Decision['rule']) => decisions.filter((d) => d.rule === rule);

/** Does any applicable policy carry an approval rule that is required? */
export function hasApprovalPolicy(g: GateContext): boolean {
  return g.policies.some((p) => p.approval?.required && (p.environment === undefined || p.environment === g.environment || p.environment === g.state));
}

export interface ApprovalGate {
  /** 'allow' once every approval policy is satisfied; 'deny' on a rejection; else 'require_approval'. */
  verdict: Summary['verdict'];
  decisions: Decision[];
  reason: string;
}

/** Approvals per policy: min_approvers, allowed_groups, one person once, author rule (countApprovals). */
export function approvalGate(g: GateContext, now: number, approvals: readonly Approval[]): ApprovalGate {
  const decisions = onlyRule(evaluate({ policies: g.policies, stage: 'pre_apply', context: { now, environment: g.environment, state: g.state, approvals: [...approvals], author: g.author } }), 'approval');
  const s = summarize(decisions);
  return { verdict: s.verdict, decisions, reason: s.reasons.map((d) => `${d.policy}: ${d.message}`).join('; ') };
}

export interface WindowGate {
  verdict: Summary['verdict'];
  decisions: Decision[];
  reason: string;
  /** For queue: milliseconds to sleep before evaluating again (at least 1 s). */
  sleepMs?: number;
}

/** Deployment windows before apply: allow, queue (sleep until the window opens) or deny (reject). */
export function windowGate(g: GateContext, now: number): WindowGate {
  const decisions = onlyRule(evaluate({ policies: g.policies, stage: 'pre_apply', context: { now, environment: g.environment, state: g.state, approvals: [], author: g.author } }), 'deployment_window');
  const s = summarize(decisions);
  const reason = s.reasons.map((d) => `${d.policy}: ${d.message}`).join('; ');
  if (s.verdict !== 'queue') return { verdict: s.verdict, decisions, reason };
  const until = s.until !== undefined ? Date.parse(s.until) : NaN;
  const sleepMs = Number.isFinite(until) ? Math.max(1000, until - now) : 60_000;
  return { verdict: 'queue', decisions, reason, sleepMs };
}

/** Security verdict over the plan's decisions: deny wins (fail closed), with addresses in the reason. */
export function securityVerdict(decisions: readonly Decision[]): { ok: boolean; reason: string } {
  const denied = decisions.filter((d) => d.outcome === 'deny');
  if (denied.length === 0) return { ok: true, reason: '' };
  return { ok: false, reason: `refused by policy: ${denied.map((d) => `${d.policy}/${d.rule}${d.address ? ` ${d.address}` : ''}: ${d.message}`).join('; ')}` };
}

/** pre_plan decisions (window warnings, approvals that apply will need), recorded before planning. */
export function prePlanDecisions(g: GateContext, now: number): Decision[] {
  return evaluate({ policies: g.policies, stage: 'pre_plan', context: { now, environment: g.environment, state: g.state, author: g.author } });
}
