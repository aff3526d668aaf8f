/**
 * Phase: approval of the review plan. With an approval policy, approvals count by its rules
 * (groups, min_approvers, author excluded); without one, a run that does not auto-deploy (or a
 * destroy, or a state whose deployed commit left the branch) waits for one approval. Only a rejection
 * that counts ends the run (group-checked like approvals); others are recorded.
 */
import { condition } from '@temporalio/workflow';
import type { RejectSignal, RunProgress } from '../definitions';
import {
  approvalGate, decisionRecords, hasApprovalPolicy, rejectionIgnoredReason, toApprovals, validRejection, type GateContext,
} from '../gates';
import type { RunSession } from './session';

/** The counted rejection, if any. */
export const rejectedBy = (s: RunSession, gates: GateContext): RejectSignal | undefined => validRejection(gates, s.rejections);

const rejectedReason = (r: RejectSignal) => `rejected by ${r.by}${r.reason ? `: ${r.reason}` : ''}`;

/** Resolves undefined when the run may go on, or with its final progress (rejected). */
export async function approval(s: RunSession, gates: GateContext, nothingToReview: boolean): Promise<RunProgress | undefined> {
  const { input, ctx, approvals, rejections, progress } = s;
  const policyApproval = hasApprovalPolicy(gates);
  // A state whose deployed commit is gone from the branch (history rewritten) is never changed unasked.
  // A drift remediation without auto_remediate asks too (absent from contexts of runs started before: same commands).
  const needsApproval = (policyApproval || !ctx.config.autoDeploy || input.kind === 'destroy' || ctx.deployedCommitUnreachable || ctx.approvalRequired !== undefined) && !nothingToReview;
  if (!needsApproval) return undefined;
  const rejected = () => rejectedBy(s, gates);
  s.setPhase('awaiting_approval', ctx.approvalRequired ? `waiting for approval of the plan: ${ctx.approvalRequired}` : 'waiting for approval of the plan');
  await s.event('approval_required', { scope: 'review' });
  if (policyApproval) {
    let rejectionsSeen = 0;
    const noteRejections = async () => {
      for (; rejectionsSeen < rejections.length; rejectionsSeen++) {
        const r = rejections[rejectionsSeen]!;
        const why = rejectionIgnoredReason(gates, r);
        if (why) await s.event('approval_rejected', { by: r.by, scope: r.scope ?? 'review', counted: false, reason: why });
      }
    };
    await noteRejections();
    let g = approvalGate(gates, Date.now(), toApprovals(approvals, rejections));
    while (g.verdict === 'require_approval' && rejected() === undefined) {
      progress.waitingReason = g.reason;
      const seen = approvals.length;
      const seenRejections = rejections.length;
      await condition(() => rejections.length > seenRejections || approvals.length > seen);
      await noteRejections();
      g = approvalGate(gates, Date.now(), toApprovals(approvals, rejections));
    }
    const rej = rejected();
    await s.event('policy_check', { stage: 'pre_apply', rule: 'approval', outcome: rej || g.verdict !== 'allow' ? 'fail' : 'pass', decisions: decisionRecords(g.decisions) });
    if (rej) return s.finish('rejected', rejectedReason(rej));
    if (g.verdict !== 'allow') return s.finish('rejected', g.reason);
    await s.event('approval_received', { scope: 'review', by: g.decisions.flatMap((d) => d.approval?.approvedBy ?? []) });
    return undefined;
  }
  await condition(() => rejected() !== undefined || approvals.some((a) => (a.scope ?? 'review') === 'review'));
  const rej = rejected();
  if (rej) return s.finish('rejected', rejectedReason(rej));
  await s.event('approval_received', { scope: 'review', by: approvals.find((a) => (a.scope ?? 'review') === 'review')!.by });
  return undefined;
}
