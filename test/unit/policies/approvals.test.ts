import assert from 'node:assert/strict';
import { countApprovals } from '../../../policies/approvals';
import type { Approval, ApprovalRule } from '../../../policies/types';
import { policy } from './helpers';

const rule: ApprovalRule = { required: true, minApprovers: 2, allowedGroups: ['platform-admins'], allowAuthor: false };
const prodApproval = policy('production_approval', { environment: 'prod', approval: rule });
const admin = (approver: string, decision: Approval['decision'] = 'approve'): Approval => ({ approver, groups: ['dev', 'platform-admins'], decision });

describe('policies/approvals: countApprovals', () => {
  it('is satisfied by two distinct members of an allowed group', () => {
    const c = countApprovals(prodApproval, [admin('alice'), admin('bob')], { author: 'carol' });
    assert.equal(c.satisfied, true);
    assert.equal(c.rejected, false);
    assert.deepEqual(c.counted, ['alice', 'bob']);
    assert.deepEqual(c.ignored, []);
    assert.equal(c.missing, 0);
  });

  it('ignores a non-member', () => {
    const c = countApprovals(prodApproval, [admin('alice'), { approver: 'mallory', groups: ['dev'], decision: 'approve' }]);
    assert.equal(c.satisfied, false);
    assert.equal(c.missing, 1);
    assert.deepEqual(c.ignored, [{ approver: 'mallory', decision: 'approve', reason: 'not a member of platform-admins' }]);
  });

  it('counts one person once (case-insensitive logins)', () => {
    const c = countApprovals(prodApproval, [admin('alice'), admin('Alice'), admin('alice')]);
    assert.equal(c.satisfied, false);
    assert.deepEqual(c.counted, ['alice']);
    assert.equal(c.ignored.length, 2);
    assert.match(c.ignored[0].reason, /one person counts once/);
  });

  it('refuses the author of the push unless allow_author = true', () => {
    const c = countApprovals(prodApproval, [admin('carol'), admin('alice')], { author: 'carol' });
    assert.equal(c.satisfied, false);
    assert.deepEqual(c.counted, ['alice']);
    assert.deepEqual(c.ignored, [{ approver: 'carol', decision: 'approve', reason: 'the author of the push cannot approve this run' }]);

    const lenient = countApprovals({ ...rule, allowAuthor: true }, [admin('carol'), admin('alice')], { author: 'carol' });
    assert.equal(lenient.satisfied, true);
  });

  it('a valid rejection ends it, even after enough approvals', () => {
    const c = countApprovals(prodApproval, [admin('alice'), admin('bob'), admin('dave', 'reject')]);
    assert.equal(c.rejected, true);
    assert.equal(c.satisfied, false);
    assert.equal(c.rejectedBy, 'dave');
  });

  it('a rejection by a non-member or by the author does not count', () => {
    const c = countApprovals(
      prodApproval,
      [{ approver: 'mallory', groups: [], decision: 'reject' }, admin('carol', 'reject'), admin('alice'), admin('bob')],
      { author: 'carol' },
    );
    assert.equal(c.rejected, false);
    assert.equal(c.satisfied, true);
    assert.equal(c.ignored.length, 2);
  });

  it('without allowed_groups anyone counts', () => {
    const c = countApprovals({ required: true, minApprovers: 1, allowedGroups: [], allowAuthor: false }, [{ approver: 'x', groups: [], decision: 'approve' }]);
    assert.equal(c.satisfied, true);
  });

  it('throws on a policy without an approval block (a programming error)', () => {
    assert.throws(() => countApprovals(policy('p', {}), []), /has no approval block/);
  });
});
