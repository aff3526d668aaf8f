import assert from 'node:assert/strict';
import { evaluate } from '../../policies/evaluate';
import { parsePolicyFiles } from '../../policies/parse';
import type { Policy } from '../../policies/types';
import type { HookResult } from '../../policies/types';
import {
  approvalGate, decisionRecords, hasApprovalPolicy, hookEventRecord, hookStopReason, rejectionIgnoredReason, securityVerdict, toApprovals,
  unitSecurityDecisions, validRejection, windowGate,
} from '../../workflows/gates';

const HCL = `
policy "two_admins" {
  environment = "prod"
  approval {
    min_approvers  = 2
    allowed_groups = ["platform-admins"]
  }
}
policy "window" {
  schedule {
    allowed_hours = ["10:00-11:00"]
  }
}
policy "window_reject" {
  schedule {
    allowed_hours = ["10:00-11:00"]
  }
  action {
    on_violation = "reject"
  }
}
policy "protect" {
  security {
    deny_actions {
      resource_types = ["terraform_data"]
    }
  }
}
`;

async function load(): Promise<Record<string, Policy>> {
  const l = await parsePolicyFiles([{ path: 'policies/p.hcl', text: HCL }]);
  assert.deepEqual(l.errors, []);
  return l.policies;
}

const at = (hhmm: string) => Date.parse(`2026-11-23T${hhmm}:00Z`);

describe('workflows/gates', () => {
  it('approvals: non-member and duplicate do not count; the second valid approval allows', async () => {
    const p = await load();
    const g = { policies: [p.two_admins!], environment: 'prod', state: 'prod', author: 'carol' };
    assert.equal(hasApprovalPolicy(g), true);
    assert.equal(hasApprovalPolicy({ ...g, environment: 'dev', state: 'dev' }), false);
    const adm = ['platform-admins'];
    const steps = [
      { by: 'mallory', groups: ['dev'] },
      { by: 'alice', groups: adm },
      { by: 'alice', groups: adm },
      { by: 'carol', groups: adm }, // the author
    ];
    assert.equal(approvalGate(g, at('09:00'), toApprovals(steps)).verdict, 'require_approval');
    const ok = approvalGate(g, at('09:00'), toApprovals([...steps, { by: 'bob', groups: adm }]));
    assert.equal(ok.verdict, 'allow');
    assert.deepEqual(ok.decisions[0]!.approval!.approvedBy.sort(), ['alice', 'bob']);
  });

  it('approvals: only the review scope counts; groups absent means none', async () => {
    const p = await load();
    const g = { policies: [p.two_admins!], environment: 'prod' };
    const a = toApprovals([{ by: 'a', scope: 'unit:x', groups: ['platform-admins'] }, { by: 'b' }]);
    assert.deepEqual(a, [{ approver: 'b', groups: [], decision: 'approve' }]);
    assert.equal(approvalGate(g, 0, a).verdict, 'require_approval');
  });

  it('windows: queue sleeps until the window opens; reject denies; inside allows', async () => {
    const p = await load();
    const q = windowGate({ policies: [p.window!] }, at('09:58'));
    assert.equal(q.verdict, 'queue');
    assert.equal(q.sleepMs, 2 * 60_000);
    assert.match(q.reason, /window/);
    assert.equal(windowGate({ policies: [p.window!] }, at('10:30')).verdict, 'allow');
    const r = windowGate({ policies: [p.window_reject!] }, at('09:58'));
    assert.equal(r.verdict, 'deny');
    assert.equal(r.sleepMs, undefined);
  });

  it('security: deny gives the address in the reason; records carry no plan values', async () => {
    const p = await load();
    const plan = { format_version: '1.2', resource_changes: [
      { address: 'terraform_data.db', mode: 'managed', type: 'terraform_data', name: 'db', change: { actions: ['delete', 'create'], before: { input: 'secret-before' }, after: { input: 'secret-after' } } },
    ] };
    const decisions = evaluate({ policies: [p.protect!], stage: 'post_plan', context: { now: 0, plan } });
    const v = securityVerdict(decisions);
    assert.equal(v.ok, false);
    assert.match(v.reason, /terraform_data\.db/);
    const rec = JSON.stringify(decisionRecords(decisions));
    assert.doesNotMatch(rec, /secret-/);
    assert.match(rec, /"address":"terraform_data.db"/);
    assert.equal(securityVerdict([]).ok, true);
  });

  it('rejections are group-checked like approvals: a non-member or the author does not end the run', async () => {
    const p = await load();
    const g = { policies: [p.two_admins!], environment: 'prod', state: 'prod', author: 'carol' };
    const mallory = { by: 'mallory', groups: ['dev'], reason: 'no' };
    const carol = { by: 'carol', groups: ['platform-admins'] };
    const alice = { by: 'alice', groups: ['platform-admins'], reason: 'too risky' };
    assert.equal(validRejection(g, [mallory, carol]), undefined);
    assert.match(rejectionIgnoredReason(g, mallory)!, /two_admins: not a member of platform-admins/);
    assert.match(rejectionIgnoredReason(g, carol)!, /author of the push/);
    assert.equal(validRejection(g, [mallory, alice]), alice);
    assert.equal(rejectionIgnoredReason(g, alice), undefined);
    // The gate agrees: a member's rejection denies, a non-member's leaves it waiting.
    assert.equal(approvalGate(g, 0, toApprovals([], [mallory])).verdict, 'require_approval');
    assert.equal(approvalGate(g, 0, toApprovals([], [mallory, alice])).verdict, 'deny');
    // Without an approval policy for the run, any authenticated user's rejection counts.
    assert.equal(validRejection({ ...g, environment: 'dev', state: 'dev' }, [mallory]), mallory);
    assert.equal(validRejection({ policies: [] }, []), undefined);
  });

  it('destroy runs: security rules over a unit plan refuse deleting a protected type, with the address', async () => {
    const p = await load();
    const g = { policies: [p.protect!, p.two_admins!] };
    const changes = [{ address: 'terraform_data.db', mode: 'managed' as const, type: 'terraform_data', actions: ['delete'], after: null, afterUnknown: {} }];
    const v = securityVerdict(unitSecurityDecisions(g, 0, changes));
    assert.equal(v.ok, false);
    assert.match(v.reason, /protect\/deny_actions terraform_data\.db/);
    assert.equal(securityVerdict(unitSecurityDecisions(g, 0, [{ ...changes[0]!, type: 'other', address: 'other.x' }])).ok, true);
  });

  it('hooks: the first blocking result stops the run, with the hook and the reason', () => {
    const r = (hook: string, ok: boolean, blocking: boolean): HookResult => ({ hook, type: 'webhook', event: 'pre_plan', ok, blocking, message: ok ? 'HTTP 204' : 'HTTP 500', durationMs: 3 });
    assert.equal(hookStopReason('pre_plan', [r('a', true, false), r('b', false, false)]), undefined);
    assert.equal(hookStopReason('pre_plan', [r('a', false, false), r('b', false, true)]), 'pre_plan hook "b" failed: HTTP 500');
    assert.deepEqual(hookEventRecord(r('b', false, true), false), {
      event: 'pre_plan', hook: 'b', type: 'webhook', ok: false, message: 'HTTP 500', duration_ms: 3, blocking: true, continue_on_failure: false,
    });
  });
});
