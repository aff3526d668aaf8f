import assert from 'node:assert/strict';
import { BUILTIN_HOOKS, orderHooks, parseDuration, resolveStackHooks, runBuiltinHook, webhookBody, type StackHookNames } from '../../../policies/hooks';
import { parsePolicyFiles } from '../../../policies/parse';
import { formatPolicyError } from '../../../policies/render';
import type { HookDefinition, HookRunContext, PlanGuardHook, PolicyError, RecordHook } from '../../../policies/types';

const VALID = `policy "window" {
  schedule {
    allowed_hours = ["0-24"]
  }
}

hook "notify_slack" {
  type                = "webhook"
  description         = "tell #deploys"
  url                 = "https://hooks.example.com/stackly"
  secret_env          = "STACKLY_HOOK_SECRET_SLACK"
  priority            = 10
  timeout             = "1m30s"
  continue_on_failure = true
}

hook "quota_service" {
  type       = "webhook"
  url_env    = "STACKLY_HOOK_QUOTA_URL"
  secret_env = "STACKLY_HOOK_SECRET_QUOTA"
}

hook "small_changes" {
  type      = "plan_guard"
  max_total = 20
  max_destroy = 0
}

hook "audit" {
  type    = "record"
  message = "entering apply"
  priority = 5
}
`;

const names = (n: Partial<StackHookNames>): StackHookNames => ({ prePlan: [], postPlan: [], preApply: [], postApply: [], ...n });
const ctx = (extra: Partial<HookRunContext> = {}): HookRunContext => ({
  event: 'pre_apply', runId: 'run-1', kind: 'deploy', stack: 'net', state: 'prod', environment: 'prod',
  commit: 'a'.repeat(40), plan: { add: 1, change: 2, destroy: 0, replace: 0 }, ...extra,
});

async function load(text: string, path = 'policies/hooks.hcl') {
  return parsePolicyFiles([{ path, text }]);
}

function errorFor(errors: PolicyError[], hook: string, field?: string): PolicyError {
  const e = errors.find((x) => x.hook === hook && (field === undefined || x.field === field));
  assert.ok(e, `no error for hook ${hook} field ${field}: ${errors.map(formatPolicyError).join('\n')}`);
  return e;
}

describe('policies/hooks: hook blocks in policies/*.hcl', () => {
  it('parses webhook, plan_guard and record hooks beside policies, with defaults', async () => {
    const loaded = await load(VALID);
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(Object.keys(loaded.policies), ['window']);
    assert.deepEqual(loaded.hooks.notify_slack, {
      name: 'notify_slack', type: 'webhook', description: 'tell #deploys', url: 'https://hooks.example.com/stackly',
      secretEnv: 'STACKLY_HOOK_SECRET_SLACK', priority: 10, timeoutMs: 90_000, continueOnFailure: true, file: 'policies/hooks.hcl', line: 7,
    });
    assert.deepEqual(loaded.hooks.quota_service, {
      name: 'quota_service', type: 'webhook', urlEnv: 'STACKLY_HOOK_QUOTA_URL', secretEnv: 'STACKLY_HOOK_SECRET_QUOTA',
      priority: 100, timeoutMs: 10_000, continueOnFailure: false, file: 'policies/hooks.hcl', line: 17,
    });
    assert.deepEqual((loaded.hooks.small_changes as PlanGuardHook).limits, { maxTotal: 20, maxDestroy: 0 });
    assert.equal((loaded.hooks.audit as RecordHook).message, 'entering apply');
    // Plain data: activity result → workflow.
    assert.deepEqual(JSON.parse(JSON.stringify(loaded.hooks)), loaded.hooks);
  });

  it('reports bad hooks with file, line, hook and field', async () => {
    const text = [
      'hook "a" {', //                                            1
      '  type = "webhok"', //                                     2
      '}',
      'hook "b" {', //                                            4
      '  type       = "webhook"',
      '  url        = "https://user:pw@example.com/x"', //       6
      '  secret_env = "VAULT_TOKEN"', //                          7
      '  timeout    = "ten seconds"', //                          8
      '  max_total  = 3', //                                      9
      '}',
      'hook "c" {', //                                           11
      '  type = "plan_guard"',
      '}',
      'hook "d" {', //                                           14
      '  type = "webhook"',
      '  url  = "https://example.com"',
      '  priorty = 3', //                                        17
      '}',
      'hook "e" {', //                                           19
      '  url = "ftp://example.com"',
      '}',
      'hook "f" {', //                                           22
      '  type = "record"',
      '  timeout = "20m"', //                                    24
      '  continue_on_failure = "yes"', //                        25
      '}',
    ].join('\n');
    const { errors, hooks } = await load(text, 'policies/bad.hcl');
    assert.deepEqual(Object.keys(hooks), []);
    const expect = (hook: string, field: string | undefined, line: number, message: RegExp) => {
      const e = errorFor(errors, hook, field);
      assert.equal(e.file, 'policies/bad.hcl');
      assert.equal(e.line, line, `line of ${hook}.${field}: ${formatPolicyError(e)}`);
      assert.match(e.message, message);
    };
    expect('a', 'type', 2, /unknown hook type "webhok"; did you mean "webhook"\?/);
    expect('b', 'url', 6, /must not carry credentials/);
    expect('b', 'secret_env', 7, /STACKLY_HOOK_\[A-Z0-9_\]\+.*got "VAULT_TOKEN"/);
    expect('b', 'timeout', 8, /"ten seconds" is not a duration/);
    expect('b', 'max_total', 9, /belongs to hooks of type "plan_guard", not "webhook"/);
    expect('c', undefined, 11, /plan_guard hook "c" has no limits/);
    expect('d', 'secret_env', 14, /is required/);
    expect('d', 'priorty', 17, /unknown field "priorty" in hook "d"; did you mean "priority"\?/);
    expect('e', 'type', 19, /is required/);
    expect('f', 'timeout', 24, /between 100ms and 5m/);
    expect('f', 'continue_on_failure', 25, /must be true or false/);
    assert.equal(
      formatPolicyError(errorFor(errors, 'b', 'secret_env')).split(':').slice(0, 3).join(':'),
      'policies/bad.hcl:7: hook "b", field secret_env',
    );
  });

  it('url and url_env are exclusive; one of them is required', async () => {
    const { errors } = await load([
      'hook "both" {', '  type = "webhook"', '  url = "https://a.example"', '  url_env = "STACKLY_HOOK_URL"', '  secret_env = "STACKLY_HOOK_S"', '}',
      'hook "none" {', '  type = "webhook"', '  secret_env = "STACKLY_HOOK_S"', '}',
    ].join('\n'));
    assert.match(errorFor(errors, 'both', 'url_env').message, /either url or url_env/);
    assert.match(errorFor(errors, 'none', 'url').message, /is required \(or url_env/);
  });

  it('a hook name in two files is an error naming both; unknown top-level blocks still are errors', async () => {
    const a = 'hook "shared" {\n  type = "record"\n}\n';
    const b = 'policy "p" {\n  approval {}\n}\n\nhook "shared" {\n  type = "record"\n}\nhooks "x" {\n}\n';
    const loaded = await parsePolicyFiles([{ path: 'policies/a.hcl', text: a }, { path: 'policies/b.hcl', text: b }]);
    const dup = errorFor(loaded.errors, 'shared');
    assert.equal(dup.file, 'policies/b.hcl');
    assert.equal(dup.line, 5);
    assert.match(dup.message, /hook "shared" is defined in both policies\/a\.hcl:1 and policies\/b\.hcl:5/);
    assert.equal(loaded.hooks.shared?.file, 'policies/a.hcl');
    assert.ok(loaded.errors.some((e) => e.field === 'hooks' && /unknown top-level block "hooks".*hook "NAME"/.test(e.message)), loaded.errors.map(formatPolicyError).join('\n'));
  });

  it('parses durations', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.match(String(parseDuration('10')), /not a duration/);
    assert.match(String(parseDuration('50ms')), /between/);
    assert.match(String(parseDuration('6m')), /between/);
  });
});

describe('policies/hooks: resolving a stack\'s hooks', () => {
  it('orders each event by priority (lower first), ties in the order the stack lists them; built-ins resolve', async () => {
    const loaded = await load(VALID);
    const r = resolveStackHooks(loaded, names({
      preApply: ['quota_service', 'notify_slack', 'builtin.no_destroy', 'audit', 'small_changes', 'notify_slack'],
      postApply: ['builtin.record'],
    }), 'stacks/net/stack.hcl');
    assert.deepEqual(r.errors, []);
    // audit 5, notify_slack 10, then priority 100 in listed order; the duplicate is dropped.
    assert.deepEqual(r.hooks.pre_apply.map((h) => h.name), ['audit', 'notify_slack', 'quota_service', 'builtin.no_destroy', 'small_changes']);
    assert.deepEqual(r.hooks.post_apply, [BUILTIN_HOOKS['builtin.record']]);
    assert.deepEqual(r.hooks.pre_plan, []);
  });

  it('a stack naming an unknown hook is invalid: the error names the file, line, event and hook', async () => {
    const loaded = await load(VALID);
    const r = resolveStackHooks(loaded, names({ prePlan: ['validate_quotas'], postApply: ['audit'] }), 'stacks/net/stack.hcl', { pre_plan: 12 });
    assert.equal(r.errors.length, 1);
    const e = r.errors[0]!;
    assert.deepEqual([e.file, e.line, e.field, e.hook], ['stacks/net/stack.hcl', 12, 'hooks.pre_plan', 'validate_quotas']);
    assert.match(e.message, /names hook "validate_quotas", which does not exist: define it with hook "validate_quotas" \{ \.\.\. \} in policies\/\*\.hcl \(known: audit, notify_slack, quota_service, small_changes; built-in: builtin\.record, builtin\.no_destroy\)/);
    assert.match(formatPolicyError(e), /^stacks\/net\/stack\.hcl:12: hook "validate_quotas", field hooks\.pre_plan: /);
    assert.deepEqual(r.hooks.post_apply.map((h) => h.name), ['audit']);
  });

  it('naming an invalid hook says so; a plan_guard at pre_plan is refused', async () => {
    const loaded = await load('hook "broken" {\n  type = "webhook"\n}\nhook "guard" {\n  type = "plan_guard"\n  max_add = 1\n}\n');
    const r = resolveStackHooks(loaded, names({ prePlan: ['broken', 'guard', 'builtin.no_destroy'] }), 'stack.hcl');
    assert.match(errorFor(r.errors, 'broken').message, /names hook "broken", which is invalid \(see its errors\)/);
    assert.match(errorFor(r.errors, 'guard').message, /does not exist yet at pre_plan; list it under post_plan or pre_apply/);
    assert.match(errorFor(r.errors, 'builtin.no_destroy').message, /pre_plan/);
    assert.deepEqual(r.hooks.pre_plan, []);
  });

  it('orderHooks is stable', () => {
    const h = (name: string, priority: number): HookDefinition => ({ ...BUILTIN_HOOKS['builtin.record']!, name, priority } as HookDefinition);
    assert.deepEqual(orderHooks([h('a', 50), h('b', 10), h('c', 50), h('d', 10)]).map((x) => x.name), ['b', 'd', 'a', 'c']);
  });
});

describe('policies/hooks: built-in hooks and the webhook body', () => {
  it('builtin.no_destroy passes a plan without deletes and fails one that deletes or replaces', () => {
    const guard = BUILTIN_HOOKS['builtin.no_destroy'] as PlanGuardHook;
    assert.equal(runBuiltinHook(guard, ctx()).ok, true);
    const bad = runBuiltinHook(guard, ctx({ plan: { add: 0, change: 0, destroy: 2, replace: 1 } }));
    assert.equal(bad.ok, false);
    assert.equal(bad.message, 'plan exceeds limits: 2 to destroy (max 0), 1 to replace (max 0)');
    const none = runBuiltinHook(guard, ctx({ plan: null, kind: 'destroy' }));
    assert.equal(none.ok, false);
    assert.match(none.message, /no plan to check at pre_apply \(a destroy run has no review plan/);
  });

  it('a plan_guard counts the total', () => {
    const g: PlanGuardHook = { ...(BUILTIN_HOOKS['builtin.no_destroy'] as PlanGuardHook), name: 'g', limits: { maxTotal: 2 } };
    assert.equal(runBuiltinHook(g, ctx({ plan: { add: 1, change: 1, destroy: 0, replace: 0 } })).ok, true);
    assert.match(runBuiltinHook(g, ctx({ plan: { add: 2, change: 1, destroy: 0, replace: 0 } })).message, /3 to total \(max 2\)/);
  });

  it('builtin.record always passes and echoes the run', () => {
    const r = runBuiltinHook(BUILTIN_HOOKS['builtin.record'] as RecordHook, ctx());
    assert.equal(r.ok, true);
    assert.equal(r.message, `recorded pre_apply (net/prod at aaaaaaaaaaaa; plan +1 ~2 -0 ±0)`);
  });

  it('the webhook body carries names, ids and counts only', () => {
    const body = webhookBody('notify', ctx({ outcome: 'succeeded', triggeredBy: 'alice' }), '2026-11-29T00:00:00.000Z');
    assert.deepEqual(body, {
      event: 'pre_apply', hook: 'notify', delivery_id: 'run-1:pre_apply:notify', run_id: 'run-1', run_kind: 'deploy',
      stack: 'net', state: 'prod', environment: 'prod', commit: 'a'.repeat(40), plan: { add: 1, change: 2, destroy: 0, replace: 0 },
      outcome: 'succeeded', triggered_by: 'alice', sent_at: '2026-11-29T00:00:00.000Z',
    });
    // Extra fields on the context (e.g. a careless caller passing variables) never reach the body.
    const leaky = { ...ctx(), variables: { password: 'hunter2' } } as HookRunContext;
    assert.doesNotMatch(JSON.stringify(webhookBody('n', leaky, 't')), /hunter2/);
  });
});
