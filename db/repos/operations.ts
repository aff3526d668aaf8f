/** operations: plans, applies, destroys and drift checks (written by the run activities, read by the api). */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';
import type { Operation, OperationStatus, OperationType } from '../tables/operations';
import { keysetPage, type Page, type PageRequest } from './pagination';
import { isUuid } from './stack-codes';

/** Operations of the account's states (operations carry no account id: joined through the state). */
export async function listOperations(
  db: DbOrTx,
  accountId: string,
  filter: { stackStateId?: string; type?: OperationType },
  page: PageRequest,
): Promise<Page<Operation>> {
  let q = db
    .selectFrom('operations')
    .innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .selectAll('operations')
    .where('stack_states.account_id', '=', accountId);
  if (filter.stackStateId) q = q.where('operations.stack_state_id', '=', filter.stackStateId);
  if (filter.type) q = q.where('operations.type', '=', filter.type);
  return keysetPage(q, page, { time: 'started_at', table: 'operations' });
}

export async function getOperation(db: DbOrTx, accountId: string, id: string): Promise<Operation | undefined> {
  if (!isUuid(id)) return undefined;
  return db
    .selectFrom('operations')
    .innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .selectAll('operations')
    .where('stack_states.account_id', '=', accountId)
    .where('operations.id', '=', id)
    .executeTakeFirst();
}

export interface NewOperation {
  stackStateId: string;
  type: OperationType;
  status: OperationStatus;
  triggeredBy: string;
  /** One operation per workflow id: a retried activity finds the row made by its first attempt. */
  workflowId: string;
  fromCommit: string;
  toCommit: string;
  metadata: Record<string, unknown>;
}

/** The id of the operation of `workflowId`, inserted unless it exists (also when two attempts race). */
export async function ensureOperation(db: DbOrTx, op: NewOperation): Promise<string> {
  const existing = await db.selectFrom('operations').select('id').where('workflow_id', '=', op.workflowId).executeTakeFirst();
  if (existing) return existing.id;
  const row = await db
    .insertInto('operations')
    .values({
      stack_state_id: op.stackStateId, type: op.type, status: op.status, triggered_by: op.triggeredBy,
      workflow_id: op.workflowId, from_commit: op.fromCommit, to_commit: op.toCommit,
      metadata: JSON.stringify(op.metadata),
    })
    .onConflict((oc) => oc.column('workflow_id').where('workflow_id', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (row) return row.id;
  const again = await db.selectFrom('operations').select('id').where('workflow_id', '=', op.workflowId).executeTakeFirstOrThrow();
  return again.id;
}

const FINAL_STATUSES: readonly OperationStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * Sets an operation's status (a final one also stamps completed_at), its error when given, and
 * merges `metadata` into what it has.
 */
export async function updateOperationStatus(
  db: DbOrTx,
  id: string,
  v: { status: OperationStatus; error?: unknown; metadata?: Record<string, unknown> },
): Promise<void> {
  await db
    .updateTable('operations')
    .set({
      status: v.status,
      ...(FINAL_STATUSES.includes(v.status) ? { completed_at: sql`now()` } : {}),
      ...(v.error !== undefined ? { error_details: JSON.stringify(v.error) } : {}),
      ...(v.metadata ? { metadata: sql`coalesce(metadata, '{}'::jsonb) || ${JSON.stringify(v.metadata)}::jsonb` } : {}),
    })
    .where('id', '=', id)
    .execute();
}

/**
 * The operation of a run (by workflow id) of one of the account's states. A closed run's id may be
 * started again (a manual re-run of the same commit): the newest is the one Temporal answers for.
 */
export async function findRunOperation(db: DbOrTx, accountId: string, workflowId: string): Promise<Pick<Operation, 'id' | 'status'> | undefined> {
  return db
    .selectFrom('operations')
    .innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .select(['operations.id', 'operations.status'])
    .where('operations.workflow_id', '=', workflowId)
    .where('stack_states.account_id', '=', accountId)
    .orderBy('operations.started_at', 'desc')
    .executeTakeFirst();
}

/** Operations of a state of `type` that have not ended (pending: queued; running), newest first. */
export async function listOpenOperations(db: DbOrTx, stackStateId: string, type: OperationType): Promise<Array<Pick<Operation, 'id' | 'workflow_id' | 'status'>>> {
  return db.selectFrom('operations').select(['id', 'workflow_id', 'status'])
    .where('stack_state_id', '=', stackStateId).where('type', '=', type).where('status', 'in', ['pending', 'running', 'waiting'])
    .orderBy('started_at', 'desc').execute();
}

/** Whether a deploy of the state ever succeeded (a state only registered has nothing to drift from). */
export async function hasSucceededApply(db: DbOrTx, stackStateId: string): Promise<boolean> {
  const row = await db.selectFrom('operations').select('id')
    .where('stack_state_id', '=', stackStateId).where('type', '=', 'apply').where('status', '=', 'succeeded').limit(1).executeTakeFirst();
  return row !== undefined;
}

/** The newest operation of a state of `type` (its last drift check), if any. */
export async function latestOperationOfType(db: DbOrTx, stackStateId: string, type: OperationType): Promise<Operation | undefined> {
  return db.selectFrom('operations').selectAll()
    .where('stack_state_id', '=', stackStateId).where('type', '=', type)
    .orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/**
 * Whose run a workflow id is (hooks: which account's allow-list and which repository's grants apply):
 * the newest operation with that id, its state's account (and namespace) and its stack code's
 * repository (the code it was last deployed with, for a loose state).
 */
export async function runOwnerOfWorkflow(db: DbOrTx, workflowId: string): Promise<{ accountId: string; namespace: string; repositoryId: string | null } | undefined> {
  return db
    .selectFrom('operations as o')
    .innerJoin('stack_states as s', 's.id', 'o.stack_state_id')
    .innerJoin('accounts as a', 'a.id', 's.account_id')
    .leftJoin('stack_codes as c', (j) => j.on(sql<boolean>`c.id = coalesce(s.stack_code_id, (s.metadata->>'previous_stack_code_id')::uuid)`))
    .select(['a.id as accountId', 'a.temporal_namespace as namespace', 'c.repository_id as repositoryId'])
    .where('o.workflow_id', '=', workflowId)
    .orderBy('o.started_at', 'desc')
    .executeTakeFirst();
}
