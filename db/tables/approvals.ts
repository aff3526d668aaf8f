import type { ColumnType, Generated, Selectable } from 'kysely';

export interface ApprovalsTable {
  id: Generated<string>;
  operation_id: string | null;
  workflow_id: string;
  /** "review" for the whole plan, "unit:<name>" for a unit's difference. */
  scope: string;
  approver: string;
  groups: ColumnType<string[], string, string>;
  decision: 'approve' | 'reject';
  comment: string | null;
  /** Whether the policy counted it (member of an allowed group, first from this person). */
  counted: Generated<boolean>;
  reason: string | null;
  /** Who recorded it: users.id, or api_keys.id for a key of no user (null before people existed). */
  principal_id: Generated<string | null>;
  account_id: Generated<string | null>;
  created_at: Generated<Date>;
}
export type Approval = Selectable<ApprovalsTable>;
