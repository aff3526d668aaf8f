/**
 * Phase: approval of the review plan. With an approval policy, approvals count by its rules
 * (groups, min_approvers, author excluded); without one, a run that does not auto-deploy (or a
 * destroy, or a state whose deployed commit left the branch) waits for one approval. Only a rejection
 * that counts ends the run (group-checked like approvals); others are recorded.
 */
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
  const { input, ctx, progress } = s;
  const policyApproval = hasApprovalPolicy(gates);
  // A state whose deployed commit is gone from the branch (history rewritten) is never changed unasked.
  // A drift remediation without auto_remediate asks too (absent from contexts of runs started before: same commands).
  const needsApproval = (policyApproval || !ctx.config.autoDeploy || input.kind === 'destroy' || ctx.deployedCommitUnreachable || ctx.approvalRequired !== undefined) && !nothingToReview;
  if (!needsApproval) return undefined;
  const rejected = () => rejectedBy(s, gates);
  // From here on, approvals of the review count (recorded after this question; see RunSession).
  await s.ask('review');
  s.setPhase('awaiting_approval', ctx.approvalRequired ? `waiting for approval of the plan: ${ctx.approvalRequired}` : 'waiting for approval of the plan');
  await s.event('approval_required', { scope: 'review' });
  if (policyApproval) {
    let rejectionsSeen = 0;
    const noteRejections = async () => {
      const rejections = s.rejections;
      for (; rejectionsSeen < rejections.length; rejectionsSeen++) {
        const r = rejections[rejectionsSeen]!;
        const why = rejectionIgnoredReason(gates, r);
        if (why) await s.event('approval_rejected', { by: r.by, scope: r.scope ?? 'review', counted: false, reason: why });
      }
    };
    await noteRejections();
    let g = approvalGate(gates, Date.now(), toApprovals(s.approvals, s.rejections));
    while (g.verdict === 'require_approval' && rejected() === undefined) {
      progress.waitingReason = g.reason;
      const seen = s.approvals.length;
      const seenRejections = s.rejections.length;
      await s.awaitDecision(() => s.rejections.length > seenRejections || s.approvals.length > seen);
      await noteRejections();
      g = approvalGate(gates, Date.now(), toApprovals(s.approvals, s.rejections));
    }
    const rej = rejected();
    await s.event('policy_check', { stage: 'pre_apply', rule: 'approval', outcome: rej || g.verdict !== 'allow' ? 'fail' : 'pass', decisions: decisionRecords(g.decisions) });
    if (rej) return s.finish('rejected', rejectedReason(rej));
    if (g.verdict !== 'allow') return s.finish('rejected', g.reason);
    await s.event('approval_received', { scope: 'review', by: g.decisions.flatMap((d) => d.approval?.approvedBy ?? []) });
    return undefined;
  }
  const reviewApproval = () => s.approvals.find((a) => (a.scope ?? 'review') === 'review');
  await s.awaitDecision(() => rejected() !== undefined || reviewApproval() !== undefined);
  const rej = rejected();
  if (rej) return s.finish('rejected', rejectedReason(rej));
  await s.event('approval_received', { scope: 'review', by: reviewApproval()!.by });
  return undefined;
}
