/**
 * Gates a push cannot weaken (issue 15): the stricter-of merge of the deployed and the pushed
 * commit's policies, hooks and settings, account policy selectors. Pure logic; the gates are
 * evaluated with the real engine (workflows/gates.ts) to show what a run would decide.
 */
import assert from 'node:assert/strict';
import {
  BUILTIN_HOOKS, emptyRunHooks, globToRegExp, selectorMatches, stricterHooks, stricterPolicies, stricterSettings,
  type DeployedGates, type ExtraGates, type HookDefinition, type Policy, type RunHooks,
} from '../../../policies';
import { approvalGate, hasApprovalPolicy, windowGate, type GateContext } from '../../../workflows/gates';
import { policy, windowOf } from './helpers';

const DEPLOYED = 'd'.repeat(40);
const approvalPolicy = (name: string, minApprovers: number, allowedGroups: string[] = [], extra: Partial<Policy> = {}) =>
  policy(name, { approval: { required: true, minApprovers, allowedGroups, allowAuthor: false }, ...extra });
const deployed = (policies: Policy[], hooks: RunHooks = emptyRunHooks(), environment = 'prod'): DeployedGates => ({ commit: DEPLOYED, policies, hooks, environment });
const extra = (d?: DeployedGates, account: Policy[] = []): ExtraGates => ({ account, ...(d ? { deployed: d } : {}) });
const gate = (policies: Policy[], environment = 'prod'): GateContext => ({ policies, environment, state: 'prod', author: 'mallory' });
const approve = (approver: string, groups: string[] = []) => ({ approver, groups, decision: 'approve' as const });
const hook = (name: string, extra: Partial<HookDefinition> = {}): HookDefinition => ({
  name, file: 'policies/hooks.hcl', line: 1, type: 'plan_guard', priority: 100, timeoutMs: 10_000, continueOnFailure: false, limits: { maxDestroy: 0 }, ...extra,
} as HookDefinition);
const NOW = Date.UTC(2026, 11, 2, 12); // a Wednesday, 12:00 UTC

describe('policies/stricter: the stricter of the deployed and the pushed commit', () => {
  describe('policies', () => {
    it('a push that removes the approval policy still needs the approval in that run', () => {
      const merged = stricterPolicies([], extra(deployed([approvalPolicy('prod_approval', 1)])), { current: 'prod', state: 'prod' });
      assert.deepEqual(merged.map((p) => p.name), ['prod_approval']);
      assert.equal(hasApprovalPolicy(gate(merged)), true);
      assert.equal(approvalGate(gate(merged), NOW, []).verdict, 'require_approval');
      assert.equal(approvalGate(gate(merged), NOW, [approve('alice')]).verdict, 'allow');
    });

    it('a push that lowers min_approvers or changes the group needs both versions satisfied (renamed name@commit)', () => {
      const before = approvalPolicy('prod_approval', 2, ['platform']);
      const after = approvalPolicy('prod_approval', 1, ['friends']);
      const merged = stricterPolicies([after], extra(deployed([before])), { current: 'prod', state: 'prod' });
      assert.deepEqual(merged.map((p) => p.name), ['prod_approval', `prod_approval@${DEPLOYED.slice(0, 12)}`]);
      const g = gate(merged);
      assert.equal(approvalGate(g, NOW, [approve('eve', ['friends'])]).verdict, 'require_approval', 'the pushed rule alone is not enough');
      assert.equal(approvalGate(g, NOW, [approve('eve', ['friends']), approve('ann', ['platform'])]).verdict, 'require_approval', 'the deployed rule wants two of platform');
      assert.equal(approvalGate(g, NOW, [approve('eve', ['friends']), approve('ann', ['platform']), approve('bob', ['platform'])]).verdict, 'allow');
    });

    it('allow_author = true in the push does not let the author approve while the deployed rule bars them', () => {
      const merged = stricterPolicies(
        [approvalPolicy('a', 1, [], { approval: { required: true, minApprovers: 1, allowedGroups: [], allowAuthor: true } })],
        extra(deployed([approvalPolicy('a', 1)])), { current: 'prod', state: 'prod' },
      );
      assert.equal(approvalGate(gate(merged), NOW, [approve('mallory')]).verdict, 'require_approval');
    });

    it('an identical policy in both commits is kept once, whatever its file or line', () => {
      const p = approvalPolicy('same', 1);
      const merged = stricterPolicies([{ ...p, file: 'policies/moved.hcl', line: 40 }], extra(deployed([p])), { current: 'prod', state: 'prod' });
      assert.deepEqual(merged.map((x) => x.name), ['same']);
    });

    it('a stricter push adds its own policies', () => {
      const merged = stricterPolicies([approvalPolicy('new', 3)], extra(deployed([])), { current: 'prod', state: 'prod' });
      assert.deepEqual(merged.map((x) => x.name), ['new']);
      assert.equal(approvalGate(gate(merged), NOW, [approve('a'), approve('b')]).verdict, 'require_approval');
    });

    it('a removed deployment window still closes the run', () => {
      const window = policy('office_hours', { window: windowOf(['9-10'], ['MON-FRI'], 'UTC', 'reject') });
      const merged = stricterPolicies([], extra(deployed([window])), { current: 'prod', state: 'prod' });
      assert.equal(windowGate(gate(merged), NOW).verdict, 'deny');
    });

    it('a removed security rule still applies', () => {
      const protect = policy('protect', { security: { denyActions: [{ resourceTypes: ['aws_db_instance'], actions: ['delete'] }], requiredTags: [], requiredAttributes: [] } as unknown as Policy['security'] });
      const merged = stricterPolicies([], extra(deployed([protect])), { current: 'prod', state: 'prod' });
      assert.ok(merged.some((p) => p.security));
    });

    it('changing the environment does not escape a policy of the deployed environment (pinned)', () => {
      const prodOnly = approvalPolicy('prod_approval', 1, [], { environment: 'prod' });
      // The push keeps the policy file but moves the stack to environment "dev".
      const merged = stricterPolicies([prodOnly], extra(deployed([prodOnly], emptyRunHooks(), 'prod')), { current: 'dev', state: 'blue' });
      assert.equal(merged.length, 1);
      assert.equal(merged[0]!.environment, undefined, 'applies whatever the new environment');
      assert.equal(approvalGate(gate(merged, 'dev'), NOW, []).verdict, 'require_approval');
    });

    it('a policy of another environment stays limited to it', () => {
      const stagingOnly = approvalPolicy('staging_approval', 1, [], { environment: 'staging' });
      const merged = stricterPolicies([stagingOnly], extra(deployed([stagingOnly])), { current: 'prod', state: 'prod' });
      assert.equal(merged[0]!.environment, 'staging');
      assert.equal(hasApprovalPolicy(gate(merged)), false);
    });

    it('account policies come first, apply to a stack that names none, and cannot be shadowed by a stack policy of the same name', () => {
      const account = approvalPolicy('account:prod_approval', 1, ['sre']);
      const fake = approvalPolicy('account:prod_approval', 1, []);
      const merged = stricterPolicies([fake], extra(undefined, [account]), { current: 'prod', state: 'prod' });
      assert.deepEqual(merged.map((p) => p.name), ['account:prod_approval', 'account:prod_approval#2']);
      assert.equal(approvalGate(gate(merged), NOW, [approve('eve')]).verdict, 'require_approval', 'the account rule wants sre');
      assert.equal(approvalGate(gate(merged), NOW, [approve('ann', ['sre'])]).verdict, 'allow');
    });

    it('without extra gates (runs started before): the commit\'s own policies, unchanged', () => {
      const own = [approvalPolicy('x', 1)];
      assert.deepEqual(stricterPolicies(own, undefined, { current: 'prod', state: 'prod' }), own);
    });
  });

  describe('hooks', () => {
    it('a hook the push removes still runs', () => {
      const d = emptyRunHooks();
      d.pre_apply = [BUILTIN_HOOKS['builtin.no_destroy']!];
      const merged = stricterHooks(emptyRunHooks(), deployed([], d));
      assert.deepEqual(merged.pre_apply.map((h) => h.name), ['builtin.no_destroy']);
    });

    it('a hook the push loosens runs in both versions; an unchanged one once', () => {
      const d = emptyRunHooks();
      d.pre_apply = [hook('guard'), hook('same')];
      const own = emptyRunHooks();
      own.pre_apply = [hook('guard', { continueOnFailure: true, limits: { maxDestroy: 100 } } as Partial<HookDefinition>), hook('same', { line: 9 })];
      const merged = stricterHooks(own, deployed([], d));
      assert.deepEqual(merged.pre_apply.map((h) => h.name), [`guard@${DEPLOYED.slice(0, 12)}`, 'guard', 'same']);
      const old = merged.pre_apply[0]!;
      assert.equal(old.continueOnFailure, false);
    });

    it('priority order is kept across both commits', () => {
      const d = emptyRunHooks();
      d.post_plan = [hook('late', { priority: 200 })];
      const own = emptyRunHooks();
      own.post_plan = [hook('early', { priority: 1 })];
      assert.deepEqual(stricterHooks(own, deployed([], d)).post_plan.map((h) => h.name), ['early', 'late']);
    });

    it('first deploy: the pushed commit\'s hooks', () => {
      const own = emptyRunHooks();
      own.pre_plan = [hook('x', { type: 'record', message: 'm' } as Partial<HookDefinition>)];
      assert.equal(stricterHooks(own, undefined), own);
    });
  });

  describe('settings', () => {
    const s = (autoDeploy: boolean, extra: Partial<{ labels: Record<string, string>; features: string[]; autoRemediate: boolean }> = {}) => ({
      autoDeploy, requires: { features: extra.features ?? [], labels: extra.labels ?? {} },
      ...(extra.autoRemediate !== undefined ? { drift: { autoRemediate: extra.autoRemediate } } : {}),
    });

    it('auto_deploy: only when both commits say so', () => {
      assert.equal(stricterSettings(s(true), s(false), DEPLOYED).autoDeploy, false, 'a push that sets auto_deploy = true still waits');
      assert.equal(stricterSettings(s(false), s(true), DEPLOYED).autoDeploy, false, 'a push that clears it waits at once');
      assert.equal(stricterSettings(s(true), s(true), DEPLOYED).autoDeploy, true);
    });

    it('first deploy (no deployed commit to compare): the pushed commit\'s', () => {
      assert.deepEqual(stricterSettings(s(true, { autoRemediate: true }), undefined), { autoDeploy: true, autoRemediate: true, approvalReasons: [] });
    });

    it('auto_remediate: only when both commits say so', () => {
      assert.equal(stricterSettings(s(true, { autoRemediate: true }), s(true, { autoRemediate: false }), DEPLOYED).autoRemediate, false);
      assert.equal(stricterSettings(s(true, { autoRemediate: true }), s(true), DEPLOYED).autoRemediate, false);
      assert.equal(stricterSettings(s(true, { autoRemediate: true }), s(true, { autoRemediate: true }), DEPLOYED).autoRemediate, true);
    });

    it('a changed requires makes the run wait for approval; the same requires in another order does not', () => {
      const r = stricterSettings(s(true, { labels: { pool: 'gpu' } }), s(true, { labels: { pool: 'prod' } }), DEPLOYED);
      assert.equal(r.approvalReasons.length, 1);
      assert.match(r.approvalReasons[0]!, /requires/);
      assert.deepEqual(stricterSettings(s(true, { features: ['a', 'b'] }), s(true, { features: ['b', 'a'] }), DEPLOYED).approvalReasons, []);
    });

    it('unreadable deployed gates fail closed: no auto-deploy, approval with the reason', () => {
      const r = stricterSettings(s(true), undefined, DEPLOYED, 'stacks/x/stack.hcl is not in the git cache');
      assert.equal(r.autoDeploy, false);
      assert.match(r.approvalReasons[0]!, /could not be read: stacks\/x\/stack.hcl/);
    });
  });

  describe('account policy selectors', () => {
    const target = { environments: ['prod', undefined], state: 'blue', repositoryUrl: 'https://github.com/acme/infra.git', repositoryId: 'r-1', stackPath: 'stacks/prod/network' };

    it('empty selector: every stack', () => assert.equal(selectorMatches({}, target), true));
    it('environment: the pushed or deployed environment, or the state name', () => {
      assert.equal(selectorMatches({ environment: 'prod' }, target), true);
      assert.equal(selectorMatches({ environment: 'blue' }, target), true);
      assert.equal(selectorMatches({ environment: 'dev' }, target), false);
      assert.equal(selectorMatches({ environment: 'prod' }, { ...target, environments: ['dev', 'prod'] }), true, 'the deployed one counts too');
    });
    it('repository: URL or id', () => {
      assert.equal(selectorMatches({ repository: 'https://github.com/acme/infra.git' }, target), true);
      assert.equal(selectorMatches({ repository: 'r-1' }, target), true);
      assert.equal(selectorMatches({ repository: 'https://github.com/acme/other.git' }, target), false);
    });
    it('path globs', () => {
      assert.equal(selectorMatches({ path: 'stacks/prod/**' }, target), true);
      assert.equal(selectorMatches({ path: 'stacks/*/network' }, target), true);
      assert.equal(selectorMatches({ path: 'stacks/*' }, target), false, '* stays within a segment');
      assert.equal(selectorMatches({ path: '**/network' }, target), true);
      assert.equal(selectorMatches({ path: 'stacks/prod/network/' }, target), true, 'a trailing slash is ignored');
      assert.equal(selectorMatches({ path: 'stacks/dev/**' }, target), false);
    });
    it('every given field must match', () => {
      assert.equal(selectorMatches({ environment: 'prod', path: 'stacks/dev/**' }, target), false);
    });
    it('globToRegExp escapes everything else', () => {
      assert.equal(globToRegExp('a.b').test('axb'), false);
      assert.equal(globToRegExp('a/**').test('a'), true);
      assert.equal(globToRegExp('a/**').test('a/b/c'), true);
      assert.equal(globToRegExp('a?c').test('abc'), true);
      assert.equal(globToRegExp('a?c').test('a/c'), false);
      assert.equal(globToRegExp('(x)+').test('(x)+'), true);
    });
  });
});
