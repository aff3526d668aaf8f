import assert from 'node:assert/strict';
import { evaluate } from '../../policies/evaluate';
import { parsePolicyFiles } from '../../policies/parse';
import type { Policy } from '../../policies/types';
import { approvalGate, decisionRecords, hasApprovalPolicy, securityVerdict, toApprovals, windowGate } from '../../workflows/gates';

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
});
