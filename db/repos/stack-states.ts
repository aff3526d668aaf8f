/** stack_states: deployed instances of a stack code (`prod`, `staging`), active or loose. */
import { sql } from 'kysely';
import type { DbOrTx, Tx } from '../index';
import type { StackState, StackStateStatus } from '../tables/stack-states';
import { keysetPage, type Page, type PageRequest } from './pagination';
import { isUuid } from './stack-codes';

export async function listStatesOfStackCode(db: DbOrTx, stackCodeId: string): Promise<StackState[]> {
  return db.selectFrom('stack_states').selectAll().where('stack_code_id', '=', stackCodeId).orderBy('name').execute();
}

export async function lockStatesOfStackCode(tx: Tx, stackCodeId: string): Promise<StackState[]> {
  return tx.selectFrom('stack_states').selectAll().where('stack_code_id', '=', stackCodeId).orderBy('name').forUpdate().execute();
}

export async function lockState(tx: Tx, accountId: string, id: string): Promise<StackState | undefined> {
  if (!isUuid(id)) return undefined;
  return tx.selectFrom('stack_states').selectAll().where('account_id', '=', accountId).where('id', '=', id).forUpdate().executeTakeFirst();
}

export interface NewState {
  /** The id, chosen by the caller because the state key is derived from it. */
  id: string;
  accountId: string;
  stackCodeId: string;
  name: string;
  commit: string;
  tfStateKey: string;
  variables: unknown;
  metadata?: Record<string, unknown>;
}

export async function insertState(db: DbOrTx, s: NewState): Promise<StackState> {
  return db
    .insertInto('stack_states')
    .values({
      id: s.id,
      account_id: s.accountId,
      stack_code_id: s.stackCodeId,
      name: s.name,
      commit_hash: s.commit,
      tf_state_key: s.tfStateKey,
      variables: JSON.stringify(s.variables ?? {}),
      metadata: JSON.stringify(s.metadata ?? {}),
      status: 'active',
      generation: 1,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateState(
  db: DbOrTx,
  id: string,
  v: { status?: StackStateStatus; stackCodeId?: string | null; variables?: unknown; metadata?: Record<string, unknown>; bumpGeneration?: boolean },
): Promise<StackState> {
  return db
    .updateTable('stack_states')
    .set({
      ...(v.status !== undefined ? { status: v.status } : {}),
      ...(v.stackCodeId !== undefined ? { stack_code_id: v.stackCodeId } : {}),
      ...(v.variables !== undefined ? { variables: JSON.stringify(v.variables) } : {}),
      ...(v.metadata !== undefined ? { metadata: JSON.stringify(v.metadata) } : {}),
      ...(v.bumpGeneration ? { generation: sql<string>`generation + 1` } : {}),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Active states of a repository's live stack codes, with the commit each was last deployed from. */
export async function listActiveStatesOfRepo(db: DbOrTx, repoUrl: string): Promise<Array<StackState & { repo_path: string }>> {
  return db
    .selectFrom('stack_states')
    .innerJoin('stack_codes', 'stack_codes.id', 'stack_states.stack_code_id')
    .selectAll('stack_states')
    .select('stack_codes.repo_path')
    .where('stack_codes.repo_url', '=', repoUrl)
    .where('stack_codes.status', '<>', 'deregistered')
    .where('stack_states.status', '=', 'active')
    .orderBy('stack_states.id')
    .execute();
}

export async function getState(db: DbOrTx, accountId: string, id: string): Promise<StackState | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('stack_states').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export interface StateFilter {
  stackCodeId?: string;
  status?: StackStateStatus;
}

export async function listStates(db: DbOrTx, accountId: string, filter: StateFilter, page: PageRequest): Promise<Page<StackState>> {
  let q = db.selectFrom('stack_states').selectAll().where('account_id', '=', accountId);
  if (filter.stackCodeId) q = q.where('stack_code_id', '=', filter.stackCodeId);
  if (filter.status) q = q.where('status', '=', filter.status);
  return keysetPage(q, page, { time: 'created_at' });
}
