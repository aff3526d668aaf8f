import assert from 'node:assert/strict';
import { evaluate, summarize } from '../../../policies/evaluate';
import type { Decision } from '../../../policies/types';
import { policy, windowOf } from './helpers';

const officeQueue = policy('deployment_window', { window: windowOf(['9-17'], ['MON-FRI'], 'Europe/Berlin', 'queue') });
const officeReject = policy('strict_window', { window: windowOf(['9-17'], ['MON-FRI'], 'Europe/Berlin', 'reject') });
const approval = policy('production_approval', {
  environment: 'prod',
  approval: { required: true, minApprovers: 2, allowedGroups: ['platform-admins'], allowAuthor: false },
});
const SAT = '2026-03-28T12:00:00Z';
const FRI = '2026-03-27T12:00:00Z';
const admins = ['platform-admins'];

describe('policies/evaluate: stages and verdicts', () => {
  describe('deployment window', () => {
    it('pre_apply inside the window: allow', () => {
      const ds = evaluate({ policies: [officeQueue], stage: 'pre_apply', context: { now: FRI } });
      assert.equal(ds.length, 1);
      assert.equal(ds[0].outcome, 'allow');
      assert.equal(summarize(ds).verdict, 'allow');
    });
    it('pre_apply outside with on_violation = "queue": queue until the next opening', () => {
      const ds = evaluate({ policies: [officeQueue], stage: 'pre_apply', context: { now: Date.parse(SAT) } });
      assert.equal(ds[0].outcome, 'queue');
      assert.equal(ds[0].until, '2026-03-30T07:00:00.000Z');
      assert.match(ds[0].message, /queued until MON 2026-03-30 09:00 Europe\/Berlin/);
      const s = summarize(ds);
      assert.equal(s.verdict, 'queue');
      assert.equal(s.until, '2026-03-30T07:00:00.000Z');
    });
    it('pre_apply outside with on_violation = "reject": deny with the reason', () => {
      const ds = evaluate({ policies: [officeReject], stage: 'pre_apply', context: { now: SAT } });
      assert.equal(ds[0].outcome, 'deny');
      assert.match(ds[0].message, /outside deployment window 9-17 on MON,TUE,WED,THU,FRI \(Europe\/Berlin\)/);
    });
    it('pre_plan outside the window only warns', () => {
      const ds = evaluate({ policies: [officeReject], stage: 'pre_plan', context: { now: SAT } });
      assert.equal(ds[0].outcome, 'warn');
      assert.equal(summarize(ds).verdict, 'allow');
    });
    it('post_plan ignores windows', () => {
      assert.deepEqual(evaluate({ policies: [officeQueue], stage: 'post_plan', context: { now: SAT } }), []);
    });
  });

  describe('approval', () => {
    it('does not apply outside its environment', () => {
      const ds = evaluate({ policies: [approval], stage: 'pre_apply', context: { now: FRI, environment: 'staging', state: 'staging' } });
      assert.equal(ds.length, 1);
      assert.equal(ds[0].rule, 'environment');
      assert.equal(ds[0].outcome, 'allow');
    });
    it('matches the state name as well as the stack environment', () => {
      const ds = evaluate({ policies: [approval], stage: 'pre_apply', context: { now: FRI, environment: 'production', state: 'prod' } });
      assert.equal(ds[0].outcome, 'require_approval');
    });
    it('pre_apply without approvals: require_approval with min_approvers and groups', () => {
      const [d] = evaluate({ policies: [approval], stage: 'pre_apply', context: { now: FRI, environment: 'prod' } });
      assert.equal(d.outcome, 'require_approval');
      assert.deepEqual(d.approval, { minApprovers: 2, allowedGroups: admins, allowAuthor: false, approvedBy: [] });
      assert.match(d.message, /needs 2 approvers from platform-admins; 2 more/);
    });
    it('a non-member and a duplicate do not count; the second valid approval allows', () => {
      const approvals = [
        { approver: 'alice', groups: admins, decision: 'approve' as const },
        { approver: 'mallory', groups: ['dev'], decision: 'approve' as const },
        { approver: 'alice', groups: admins, decision: 'approve' as const },
      ];
      const ctx = { now: FRI, environment: 'prod', author: 'carol', approvals };
      const [d1] = evaluate({ policies: [approval], stage: 'pre_apply', context: ctx });
      assert.equal(d1.outcome, 'require_approval');
      assert.deepEqual(d1.approval?.approvedBy, ['alice']);
      const [d2] = evaluate({
        policies: [approval],
        stage: 'pre_apply',
        context: { ...ctx, approvals: [...approvals, { approver: 'bob', groups: admins, decision: 'approve' }] },
      });
      assert.equal(d2.outcome, 'allow');
      assert.equal(d2.message, 'approved by alice, bob');
    });
    it('a valid rejection denies', () => {
      const [d] = evaluate({
        policies: [approval],
        stage: 'pre_apply',
        context: { now: FRI, environment: 'prod', approvals: [{ approver: 'bob', groups: admins, decision: 'reject' }] },
      });
      assert.equal(d.outcome, 'deny');
      assert.equal(d.approval?.rejectedBy, 'bob');
    });
    it('required = false allows', () => {
      const p = policy('optional', { approval: { required: false, minApprovers: 1, allowedGroups: [], allowAuthor: false } });
      assert.equal(evaluate({ policies: [p], stage: 'pre_apply', context: { now: FRI } })[0].outcome, 'allow');
    });
  });

  describe('summarize', () => {
    const mk = (outcome: Decision['outcome'], until?: string): Decision => ({
      policy: 'p',
      rule: 'deployment_window',
      outcome,
      severity: outcome === 'deny' ? 'error' : 'info',
      message: outcome,
      ...(until ? { until } : {}),
    });
    it('deny wins over queue over require_approval over allow', () => {
      assert.equal(summarize([mk('allow'), mk('require_approval'), mk('queue', 'x'), mk('deny')]).verdict, 'deny');
      assert.equal(summarize([mk('allow'), mk('require_approval'), mk('queue', 'x')]).verdict, 'queue');
      assert.equal(summarize([mk('allow'), mk('require_approval'), mk('warn')]).verdict, 'require_approval');
      const s = summarize([mk('allow'), mk('warn')]);
      assert.equal(s.verdict, 'allow');
      assert.deepEqual(s.reasons, []);
      assert.equal(s.warnings.length, 1);
      assert.equal(summarize([]).verdict, 'allow');
    });
    it('queue waits for the latest window', () => {
      const s = summarize([mk('queue', '2026-03-30T07:00:00.000Z'), mk('queue', '2026-04-03T22:00:00.000Z')]);
      assert.equal(s.until, '2026-04-03T22:00:00.000Z');
      assert.equal(s.reasons.length, 2);
    });
  });

  it('accepts a name → policy record and rejects an invalid clock value', () => {
    assert.equal(evaluate({ policies: { deployment_window: officeQueue }, stage: 'pre_apply', context: { now: FRI } }).length, 1);
    assert.throws(() => evaluate({ policies: [officeQueue], stage: 'pre_apply', context: { now: 'yesterday' } }), /invalid current time/);
  });
});
