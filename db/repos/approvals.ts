/** approvals: every approve and reject given through the api, stored before the run is signalled. */
import { sql } from 'kysely';
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
    // The moment it was given (not its transaction's start): a run compares it with when it asked.
    created_at: sql<Date>`clock_timestamp()`,
  }).execute();
}

/** An approval or rejection as a run reads it back: who, their groups then, and when (the database's clock). */
export interface StoredApproval {
  by: string;
  groups: string[];
  scope: string;
  decision: ApprovalsTable['decision'];
  comment: string | null;
  /** created_at in epoch milliseconds. */
  at: number;
}

/** Every approval and rejection recorded for a run's operation, oldest first, and the database's clock now. */
export async function approvalsOfOperation(db: DbOrTx, operationId: string): Promise<{ now: number; records: StoredApproval[] }> {
  // The clock first: an approval recorded after this moment is later than `now`, and seen by the next read.
  const { now } = (await sql<{ now: Date }>`select clock_timestamp() as now`.execute(db)).rows[0]!;
  const rows = await db.selectFrom('approvals')
    .select(['approver', 'groups', 'scope', 'decision', 'comment', 'created_at'])
    .where('operation_id', '=', operationId)
    .orderBy('created_at').orderBy('id')
    .execute();
  return {
    now: now.getTime(),
    records: rows.map((r) => ({
      by: r.approver, groups: Array.isArray(r.groups) ? r.groups.map(String) : [], scope: r.scope, decision: r.decision, comment: r.comment, at: r.created_at.getTime(),
    })),
  };
}
