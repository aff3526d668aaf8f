import assert from 'node:assert/strict';
import { evaluate, summarize } from '../../../policies/evaluate';
import { classifyActions } from '../../../policies/security';
import type { Decision, SecurityRules } from '../../../policies/types';
import { plan, policy } from './helpers';

const NOW = '2026-03-27T12:00:00Z';
const rules = (r: Partial<SecurityRules>): SecurityRules => ({ denyActions: [], requiredTags: [], requiredAttributes: [], ...r });
const protect = policy('protect_data', {
  security: rules({ denyActions: [{ resourceTypes: ['aws_db_instance', 'aws_s3_bucket'], actions: ['delete', 'replace'] }] }),
});
const postPlan = (p: ReturnType<typeof policy>, planName: string): Decision[] =>
  evaluate({ policies: [p], stage: 'post_plan', context: { now: NOW, plan: plan(planName) } });
const denies = (ds: Decision[]) => ds.filter((d) => d.outcome === 'deny');

describe('policies/security: rules over plan JSON', () => {
  it('classifies Terraform actions, with replace in both orders', () => {
    assert.equal(classifyActions(['delete', 'create']), 'replace');
    assert.equal(classifyActions(['create', 'delete']), 'replace');
    assert.equal(classifyActions(['delete']), 'delete');
    assert.equal(classifyActions(['no-op']), 'no-op');
    assert.equal(classifyActions(['read']), 'read');
  });

  describe('deny_actions', () => {
    it('refuses the destroy of a protected type, with the address in the message', () => {
      const ds = postPlan(protect, 'destroy-db');
      const deny = denies(ds);
      assert.equal(deny.length, 1);
      assert.equal(deny[0].address, 'module.db.aws_db_instance.main');
      assert.equal(deny[0].rule, 'deny_actions');
      assert.equal(deny[0].severity, 'error');
      assert.match(deny[0].message, /destroy module\.db\.aws_db_instance\.main/);
      assert.equal(summarize(ds).verdict, 'deny');
    });

    it('detects replace as ["delete","create"] and ["create","delete"]', () => {
      const deny = denies(postPlan(protect, 'replace'));
      assert.deepEqual(
        deny.map((d) => d.address),
        ['aws_db_instance.orders', 'aws_s3_bucket.logs["eu"]'],
      );
      assert.ok(deny.every((d) => /replace/.test(d.message)));
    });

    it('allows a plan that only updates and leaves protected types alone', () => {
      const ds = postPlan(protect, 'clean');
      assert.deepEqual(denies(ds), []);
      assert.equal(ds.filter((d) => d.outcome === 'allow').length, 1);
      assert.equal(summarize(ds).verdict, 'allow');
    });

    it('with actions = ["delete"] only, a replace passes', () => {
      const p = policy('only_delete', { security: rules({ denyActions: [{ resourceTypes: ['aws_db_instance'], actions: ['delete'] }] }) });
      assert.deepEqual(denies(postPlan(p, 'replace')), []);
      assert.equal(denies(postPlan(p, 'destroy-db')).length, 1);
    });
  });

  describe('max_changed_resources', () => {
    const p = (max: number) => policy('small_changes', { security: rules({ maxChangedResources: max }) });
    it('denies more changes than allowed, not counting reads and no-ops', () => {
      const deny = denies(postPlan(p(50), 'many-changes'));
      assert.equal(deny.length, 1);
      assert.match(deny[0].message, /changes 51 resources; .* at most 50/);
    });
    it('allows exactly the maximum', () => {
      const ds = postPlan(p(51), 'many-changes');
      assert.deepEqual(denies(ds), []);
      assert.match(ds[0].message, /51 resources \(at most 51\)/);
    });
  });

  describe('required_tags', () => {
    const p = policy('tagging', { security: rules({ requiredTags: [{ resourceTypes: [], tags: ['owner', 'cost_center'] }] }) });
    it('denies created/updated resources missing tags; tags_all counts; unknown tags warn; deletes and untaggable types are skipped', () => {
      const ds = postPlan(p, 'tags');
      assert.deepEqual(
        denies(ds).map((d) => [d.address, d.message]),
        [['aws_instance.untagged', 'aws_instance.untagged is missing required tag cost_center']],
      );
      const warns = ds.filter((d) => d.outcome === 'warn');
      assert.deepEqual(warns.map((d) => d.address), ['aws_instance.computed']);
      assert.equal(summarize(ds).warnings.length, 1);
    });
    it('with resource_types, a listed type without any tags attribute is denied', () => {
      const typed = policy('tagging', { security: rules({ requiredTags: [{ resourceTypes: ['terraform_data'], tags: ['owner'] }] }) });
      assert.deepEqual(denies(postPlan(typed, 'tags')).map((d) => d.address), ['terraform_data.no_tags']);
    });
  });

  describe('required_attributes', () => {
    const p = policy('private_acls', {
      security: rules({ requiredAttributes: [{ resourceType: 'aws_s3_bucket_acl', attribute: 'acl', values: ['private'] }] }),
    });
    it('denies a wrong or unset value and names the address', () => {
      const deny = denies(postPlan(p, 'tags'));
      assert.deepEqual(deny.map((d) => d.address), ['aws_s3_bucket_acl.public', 'aws_s3_bucket_acl.unset']);
      assert.match(deny[0].message, /acl = "public-read"; must be one of "private"/);
      assert.match(deny[1].message, /acl is not set/);
    });
    it('allows the right value', () => {
      assert.deepEqual(denies(postPlan(p, 'clean')), []);
    });
  });

  describe('plan input', () => {
    it('a missing plan is a deny, not a crash', () => {
      const ds = evaluate({ policies: [protect], stage: 'post_plan', context: { now: NOW } });
      assert.equal(ds[0].outcome, 'deny');
      assert.equal(ds[0].rule, 'plan');
    });
    it('a malformed plan is a deny naming the bad field', () => {
      const ds = evaluate({ policies: [protect], stage: 'post_plan', context: { now: NOW, plan: { resource_changes: [{ address: 'a.b', type: 'a', change: {} }] } } });
      assert.equal(ds[0].outcome, 'deny');
      assert.match(ds[0].message, /resource_changes\[0\] \(a\.b\)\.change\.actions/);
    });
  });
});
