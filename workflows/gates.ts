/**
 * The policy gates of StackRunWorkflow (issue 7), as pure functions over the policy engine:
 * security rules over the plan (decisions come from an activity), approvals per policy and
 * deployment windows before apply. Workflow-safe: imports only the pure policy engine and types;
 * the current time is an argument (the workflow clock).
 */
import { appliesTo, countApprovals, evaluate, summarize, type Approval, type Decision, type HookEvent, type HookResult, type Policy, type Summary } from '../policies';
import type { ResourceChange } from './model/terraform';
import type { ApproveSignal, RejectSignal } from './definitions';

export interface GateContext {
  policies: readonly Policy[];
  environment?: string;
  state?: string;
  /** The run's authors (pusher and commit author, or the user who started it), barred from approving by policy. */
  author?: string | readonly string[];
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
export function toApprovals(approvals: readonly ApproveSignal[], rejections?: RejectSignal | readonly RejectSignal[], scope = 'review'): Approval[] {
  const out: Approval[] = approvals
    .filter((a) => (a.scope ?? 'review') === scope)
    .map((a) => ({ approver: a.by, groups: [...(a.groups ?? [])], decision: 'approve' as const }));
  const rs = rejections === undefined ? [] : Array.isArray(rejections) ? rejections : [rejections as RejectSignal];
  for (const r of rs) if ((r.scope ?? 'review') === scope) out.push({ approver: r.by, groups: [...(r.groups ?? [])], decision: 'reject' });
  return out;
}

/**
 * The first rejection that counts, whatever its scope: with approval policies applying to the run,
 * only someone who could approve under one of them can reject (member of its allowed_groups, not the
 * push author unless allow_author), exactly as approvals are counted; without one, any rejection
 * from an authenticated user counts. A rejection that does not count leaves the run waiting.
 */
export function validRejection(g: GateContext, rejections: readonly RejectSignal[]): RejectSignal | undefined {
  const rules = approvalRules(g);
  if (rules.length === 0) return rejections[0];
  return rejections.find((r) => rules.some((p) => countApprovals(p, [{ approver: r.by, groups: [...(r.groups ?? [])], decision: 'reject' }], { author: g.author }).rejected));
}

/** Why a rejection did not count (for the run's events), or undefined when it does. */
export function rejectionIgnoredReason(g: GateContext, r: RejectSignal): string | undefined {
  if (validRejection(g, [r])) return undefined;
  const rules = approvalRules(g);
  const reasons = rules.flatMap((p) => countApprovals(p, [{ approver: r.by, groups: [...(r.groups ?? [])], decision: 'reject' }], { author: g.author }).ignored.map((i) => `${p.name}: ${i.reason}`));
  return reasons.join('; ') || 'not allowed to reject';
}

/** A hook result as stored in a hook_completed / hook_failed event payload. */
export function hookEventRecord(r: HookResult, continueOnFailure: boolean): Record<string, unknown> {
  return {
    event: r.event, hook: r.hook, type: r.type, ok: r.ok, message: r.message, duration_ms: r.durationMs,
    ...(r.status !== undefined ? { status: r.status } : {}),
    ...(r.ok ? {} : { blocking: r.blocking, continue_on_failure: continueOnFailure }),
    ...(r.skipped ? { skipped: true } : {}),
  };
}

/** The reason a run stops after its hooks at `event`, or undefined when it goes on. */
export function hookStopReason(event: HookEvent, results: readonly HookResult[]): string | undefined {
  const stop = results.find((r) => r.blocking);
  return stop ? `${event} hook "${stop.hook}" failed: ${stop.message}` : undefined;
}

/** The approval policies that apply to this run. */
const approvalRules = (g: GateContext) => g.policies.filter((p) => p.approval?.required && appliesTo(p, g));

const onlyRule = (decisions: Decision[], rule: Decision['rule']) => decisions.filter((d) => d.rule === rule);

/** Does any applicable policy carry an approval rule that is required? */
export function hasApprovalPolicy(g: GateContext): boolean {
  return approvalRules(g).length > 0;
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

/**
 * Is a unit's difference approved? Through the same approval policies as the review (allowed groups,
 * min_approvers, the author barred) when any applies, else by one approval; `approvals` are those
 * that count for the unit's scope (recorded after it asked).
 */
export function unitApproved(g: GateContext, now: number, approvals: readonly ApproveSignal[], scope: string): boolean {
  if (!hasApprovalPolicy(g)) return approvals.some((a) => a.scope === scope);
  return approvalGate(g, now, toApprovals(approvals, [], scope)).verdict === 'allow';
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

/**
 * Security rules over one unit's plan (a destroy run has no review plan: each unit's destroy plan is
 * checked just before it is applied). The changes are re-shaped into the plan JSON the engine reads.
 */
export function unitSecurityDecisions(g: GateContext, now: number, changes: readonly ResourceChange[]): Decision[] {
  const plan = { resource_changes: changes.map((c) => ({ address: c.address, mode: c.mode, type: c.type, change: { actions: c.actions, after: c.after, after_unknown: c.afterUnknown } })) };
  return evaluate({ policies: g.policies.filter((p) => p.security), stage: 'post_plan', context: { now, environment: g.environment, state: g.state, plan } });
}
