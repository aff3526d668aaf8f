/**
 * Counting approvals against an approval policy. Pure: no imports beyond types.
 */
import type { Approval, ApprovalRule, Policy } from './types';

export interface IgnoredApproval {
  approver: string;
  decision: Approval['decision'];
  reason: string;
}

export interface ApprovalCount {
  /** Enough distinct valid approvals and no valid rejection. */
  satisfied: boolean;
  /** A valid approver rejected: the run ends. */
  rejected: boolean;
  rejectedBy?: string;
  /** Approvers that counted, in the order received (each person once). */
  counted: string[];
  /** Approvals/rejections that did not count, with the reason. */
  ignored: IgnoredApproval[];
  /** How many more valid approvals are needed (0 when satisfied). */
  missing: number;
  minApprovers: number;
}

/** Identity of a person: logins are compared case-insensitively (GitHub logins are). */
function who(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * Counts approvals in the order given. Only members of `allowed_groups` count (any user when the
 * list is empty); one person counts once; the run's authors (its starter, or the pusher and the head
 * commit's author, under each name they go by) are refused unless `allow_author = true`;
 * any valid rejection makes `rejected` true, also after approvals.
 */
export function countApprovals(
  policy: Policy | ApprovalRule,
  approvals: readonly Approval[],
  opts: { author?: string | readonly string[] } = {},
): ApprovalCount {
  const rule: ApprovalRule | undefined = 'minApprovers' in policy ? policy : policy.approval;
  if (!rule) throw new TypeError(`counting approvals: policy "${(policy as Policy).name}" has no approval block`);
  const allowed = new Set(rule.allowedGroups);
  const authors = new Set((typeof opts.author === 'string' ? [opts.author] : opts.author ?? []).map(who).filter((a) => a !== ''));
  const seen = new Set<string>();
  const counted: string[] = [];
  const ignored: IgnoredApproval[] = [];
  let rejectedBy: string | undefined;

  for (const a of approvals) {
    const id = who(a.approver);
    if (!id) {
      ignored.push({ approver: a.approver, decision: a.decision, reason: 'no approver name' });
      continue;
    }
    if (allowed.size > 0 && !a.groups.some((g) => allowed.has(g))) {
      ignored.push({
        approver: a.approver,
        decision: a.decision,
        reason: `not a member of ${[...allowed].join(', ')}`,
      });
      continue;
    }
    if (!rule.allowAuthor && authors.has(id)) {
      ignored.push({ approver: a.approver, decision: a.decision, reason: 'the author of the push cannot approve this run' });
      continue;
    }
    if (a.decision === 'reject') {
      if (rejectedBy === undefined) rejectedBy = a.approver;
      else ignored.push({ approver: a.approver, decision: a.decision, reason: `the run was already rejected by ${rejectedBy}` });
      continue;
    }
    if (seen.has(id)) {
      ignored.push({ approver: a.approver, decision: a.decision, reason: 'already approved; one person counts once' });
      continue;
    }
    seen.add(id);
    counted.push(a.approver);
  }

  const rejected = rejectedBy !== undefined;
  const missing = Math.max(0, rule.minApprovers - counted.length);
  return {
    satisfied: !rejected && missing === 0,
    rejected,
    ...(rejectedBy !== undefined ? { rejectedBy } : {}),
    counted,
    ignored,
    missing,
    minApprovers: rule.minApprovers,
  };
}
