/** approvals: every approve and reject given through the api, stored before the run is signalled. */
import type { DbOrTx } from '../index';
import type { ApprovalsTable } from '../tables/approvals';

export interface NewApproval {
  /** Null in a run's first moments, before its workflow has recorded its operation. */
  operationId: string | null;
  workflowId: string;
  scope: string;
  approver: string;
  /** users.id of the approver, or the API key's id for a key of no user. */
  principalId: string;
  accountId: string;
  /** The approver's groups at that moment, from their sign-in or an admin's mapping, never from the request. */
  groups: string[];
  decision: ApprovalsTable['decision'];
  comment: string | null;
}

export async function recordApproval(db: DbOrTx, a: NewApproval): Promise<void> {
  await db.insertInto('approvals').values({
    operation_id: a.operationId, workflow_id: a.workflowId, scope: a.scope, approver: a.approver, principal_id: a.principalId, account_id: a.accountId,
    groups: JSON.stringify(a.groups), decision: a.decision, comment: a.comment,
  }).execute();
}
