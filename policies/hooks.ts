/**
 * Hooks (issue 7 item 5), the pure side: built-in hooks, durations, resolving the hook names a
 * stack.hcl lists into definitions ordered by priority, what a built-in hook decides, and the JSON
 * body a webhook hook sends. Pure: imports only types, no clock, no Node. Safe for workflow code.
 *
 * Hook definitions are `hook "NAME" { ... }` blocks in the repository's `policies/*.hcl` (validated
 * by ./validate with the policy blocks, once per commit). The webhook call itself is I/O and lives
 * in activities/hooks.ts (a control activity).
 */
import type {
  HookDefinition,
  HookEvent,
  HookRunContext,
  HookType,
  PlanGuardHook,
  PlanLimits,
  PolicyError,
  RecordHook,
} from './types';

export const HOOK_EVENTS: readonly HookEvent[] = ['pre_plan', 'post_plan', 'pre_apply', 'post_apply', 'drift_detected'];
export const HOOK_TYPES: readonly HookType[] = ['webhook', 'plan_guard', 'record'];
export const DEFAULT_HOOK_PRIORITY = 100;
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;
export const MIN_HOOK_TIMEOUT_MS = 100;
export const MAX_HOOK_TIMEOUT_MS = 5 * 60_000;
/**
 * Environment variables a hook may name (secret_env, url_env). The prefix keeps a repository author
 * from making the control worker sign with (or send to) any other variable of its environment,
 * e.g. DATABASE_URL or VAULT_TOKEN.
 */
export const HOOK_ENV_NAME = /^STACKLY_HOOK_[A-Z0-9_]+$/;

/** The file name built-in hooks report. */
export const BUILTIN_FILE = '(built-in)';

/** Built-in hooks, usable by name in any stack.hcl without a `hook` block. Names contain a dot, so no `hook` block can clash. */
export const BUILTIN_HOOKS: Readonly<Record<string, HookDefinition>> = {
  'builtin.record': {
    name: 'builtin.record', type: 'record', file: BUILTIN_FILE, line: 0,
    description: 'records the event with the run summary (stack, state, commit, plan counts) as a hook_completed event',
    priority: DEFAULT_HOOK_PRIORITY, timeoutMs: 1000, continueOnFailure: false,
  } satisfies RecordHook,
  'builtin.no_destroy': {
    name: 'builtin.no_destroy', type: 'plan_guard', file: BUILTIN_FILE, line: 0,
    description: 'fails when the review plan deletes or replaces any resource',
    priority: DEFAULT_HOOK_PRIORITY, timeoutMs: 1000, continueOnFailure: false,
    limits: { maxDestroy: 0, maxReplace: 0 },
  } satisfies PlanGuardHook,
};

/** "10s", "500ms", "2m", "1m30s" → milliseconds; a string is the error. */
export function parseDuration(text: string): number | string {
  const s = text.trim();
  if (!/^(\d+(ms|s|m))+$/.test(s)) return `"${text}" is not a duration; use e.g. "500ms", "10s", "2m" or "1m30s"`;
  let ms = 0;
  for (const m of s.matchAll(/(\d+)(ms|s|m)/g)) ms += Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  if (ms < MIN_HOOK_TIMEOUT_MS || ms > MAX_HOOK_TIMEOUT_MS) return `must be between ${MIN_HOOK_TIMEOUT_MS}ms and ${MAX_HOOK_TIMEOUT_MS / 60_000}m, got "${text}"`;
  return ms;
}

/** stack.hcl's `hooks { ... }` as StackConfig holds it. */
export interface StackHookNames {
  prePlan: string[];
  postPlan: string[];
  preApply: string[];
  postApply: string[];
  /** A drift check found drift (absent in configs stored before it existed). */
  driftDetected?: string[];
}

/** The definitions a run executes, per event, in execution order. Plain data: an activity result / workflow value. */
export type RunHooks = Record<HookEvent, HookDefinition[]>;

export const emptyRunHooks = (): RunHooks => ({ pre_plan: [], post_plan: [], pre_apply: [], post_apply: [], drift_detected: [] });

const FIELD: Record<HookEvent, keyof StackHookNames> = { pre_plan: 'prePlan', post_plan: 'postPlan', pre_apply: 'preApply', post_apply: 'postApply', drift_detected: 'driftDetected' };

/** Stable: lower priority first, ties in the order given (the order the stack lists them). */
export function orderHooks(defs: readonly HookDefinition[]): HookDefinition[] {
  return defs.map((d, i) => ({ d, i })).sort((a, b) => a.d.priority - b.d.priority || a.i - b.i).map((x) => x.d);
}

export interface ResolvedStackHooks {
  hooks: RunHooks;
  errors: PolicyError[];
}

/**
 * The hooks a stack lists, per event, ordered by priority. A name that is neither a `hook` block of
 * policies/*.hcl nor a built-in is an error naming the stack file, the event and the hook; so is a
 * plan_guard hook at pre_plan (there is no plan yet). `lines` are the lines of each event's list.
 */
export function resolveStackHooks(
  loaded: { hooks: Record<string, HookDefinition>; errors: readonly PolicyError[] },
  names: StackHookNames,
  stackFile: string,
  lines: Partial<Record<HookEvent, number>> = {},
): ResolvedStackHooks {
  const hooks = emptyRunHooks();
  const errors: PolicyError[] = [];
  const known = Object.keys(loaded.hooks).sort();
  for (const event of HOOK_EVENTS) {
    const seen = new Set<string>();
    const defs: HookDefinition[] = [];
    for (const name of names[FIELD[event]] ?? []) {
      if (seen.has(name)) continue;
      seen.add(name);
      const line = lines[event];
      const at = { file: stackFile, ...(line !== undefined ? { line } : {}), field: `hooks.${event}`, hook: name };
      const def = loaded.hooks[name] ?? BUILTIN_HOOKS[name];
      if (!def) {
        const broken = loaded.errors.some((e) => e.hook === name);
        errors.push({
          ...at,
          message: broken
            ? `${stackFile} names hook "${name}", which is invalid (see its errors)`
            : `${stackFile} names hook "${name}", which does not exist: define it with hook "${name}" { ... } in policies/*.hcl ` +
              `(known: ${known.length > 0 ? known.join(', ') : 'none'}; built-in: ${Object.keys(BUILTIN_HOOKS).join(', ')})`,
        });
        continue;
      }
      if (def.type === 'plan_guard' && event === 'pre_plan') {
        errors.push({ ...at, message: `hook "${name}" checks the plan, which does not exist yet at pre_plan; list it under post_plan or pre_apply` });
        continue;
      }
      defs.push(def);
    }
    hooks[event] = orderHooks(defs);
  }
  return { hooks, errors };
}

/** Pre-events can stop the run; post-event failures are only recorded. */
export function isPreEvent(event: HookEvent): boolean {
  return event === 'pre_plan' || event === 'pre_apply';
}

/** Does a failure of this hook at this event stop the run? */
export function failureBlocks(def: HookDefinition, event: HookEvent): boolean {
  return isPreEvent(event) && !def.continueOnFailure;
}

/** What a built-in hook type (plan_guard, record) decides. Pure; webhooks are run by the activity. */
export function runBuiltinHook(def: PlanGuardHook | RecordHook, ctx: HookRunContext): { ok: boolean; message: string } {
  if (def.type === 'record') {
    const plan = ctx.plan ? `; plan +${ctx.plan.add} ~${ctx.plan.change} -${ctx.plan.destroy} ±${ctx.plan.replace}` : '';
    return { ok: true, message: `${def.message ?? `recorded ${ctx.event}`} (${ctx.stack}/${ctx.state} at ${ctx.commit.slice(0, 12)}${plan})` };
  }
  if (!ctx.plan) {
    const why = ctx.kind === 'destroy' ? ' (a destroy run has no review plan: it deletes everything in its state)' : '';
    return { ok: false, message: `no plan to check at ${ctx.event}${why}` };
  }
  const over = planLimitViolations(def.limits, ctx.plan);
  return over.length === 0
    ? { ok: true, message: `plan within limits (${describeLimits(def.limits)})` }
    : { ok: false, message: `plan exceeds limits: ${over.join(', ')}` };
}

export function planLimitViolations(limits: PlanLimits, p: { add: number; change: number; destroy: number; replace: number }): string[] {
  const total = p.add + p.change + p.destroy + p.replace;
  const checks: Array<[string, number | undefined, number]> = [
    ['add', limits.maxAdd, p.add], ['change', limits.maxChange, p.change], ['destroy', limits.maxDestroy, p.destroy],
    ['replace', limits.maxReplace, p.replace], ['total', limits.maxTotal, total],
  ];
  return checks.filter(([, max, n]) => max !== undefined && n > max).map(([what, max, n]) => `${n} to ${what} (max ${max})`);
}

function describeLimits(l: PlanLimits): string {
  const parts: string[] = [];
  if (l.maxAdd !== undefined) parts.push(`add ≤ ${l.maxAdd}`);
  if (l.maxChange !== undefined) parts.push(`change ≤ ${l.maxChange}`);
  if (l.maxDestroy !== undefined) parts.push(`destroy ≤ ${l.maxDestroy}`);
  if (l.maxReplace !== undefined) parts.push(`replace ≤ ${l.maxReplace}`);
  if (l.maxTotal !== undefined) parts.push(`total ≤ ${l.maxTotal}`);
  return parts.join(', ');
}

/** Identifies one delivery of one hook at one event of one run (the same on a retried activity). */
export function hookDeliveryId(ctx: Pick<HookRunContext, 'runId' | 'event'>, hook: string): string {
  return `${ctx.runId}:${ctx.event}:${hook}`;
}

/**
 * The JSON body of a webhook hook. Deliberately a closed list of fields: names, ids and counts,
 * never variable values, outputs, plan contents or secrets. `sentAt` comes from the caller (the
 * activity's clock).
 */
export function webhookBody(hook: string, ctx: HookRunContext, sentAt: string): Record<string, unknown> {
  return {
    event: ctx.event,
    hook,
    delivery_id: hookDeliveryId(ctx, hook),
    run_id: ctx.runId,
    run_kind: ctx.kind,
    stack: ctx.stack,
    state: ctx.state,
    environment: ctx.environment ?? null,
    commit: ctx.commit,
    plan: ctx.plan ? { add: ctx.plan.add, change: ctx.plan.change, destroy: ctx.plan.destroy, replace: ctx.plan.replace } : null,
    ...(ctx.outcome !== undefined ? { outcome: ctx.outcome } : {}),
    ...(ctx.triggeredBy !== undefined ? { triggered_by: ctx.triggeredBy } : {}),
    // drift_detected: addresses and actions only.
    ...(ctx.drift !== undefined ? { drift: { resources: ctx.drift.resources.map((r) => ({ unit: r.unit, address: r.address, actions: r.actions })), remediation_run_id: ctx.drift.remediationRunId ?? null } } : {}),
    sent_at: sentAt,
  };
}

/** Upper bound of one event's hooks, for the activity's start-to-close timeout. */
export function hooksBudgetMs(defs: readonly HookDefinition[]): number {
  return defs.reduce((sum, d) => sum + d.timeoutMs, 0);
}
