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

/**
 * A state with its stack code and account, for a run. A loose state has no stack code: its destroy
 * runs the code it was last deployed with (metadata.previous_stack_code_id).
 */
export async function getStateForRun(db: DbOrTx, stateId: string) {
  return db
    .selectFrom('stack_states as s')
    .innerJoin('stack_codes as c', (j) => j.on(sql<boolean>`c.id = coalesce(s.stack_code_id, (s.metadata->>'previous_stack_code_id')::uuid)`))
    .innerJoin('accounts as a', 'a.id', 's.account_id')
    .select([
      's.id as stateId', 's.name as state', 's.metadata as stateMetadata', 's.tf_state_key as stateKeyPrefix', 's.legacy_tf_state_key as legacyKey', 's.variables', 's.status as stateStatus', 's.commit_hash as fromCommit',
      'c.id as stackCodeId', 'c.name as stack', 'c.repo_url as repoUrl', 'c.repository_id as repositoryId', 'c.repo_path as stackPath',
      'c.config', 'c.status as codeStatus', 'a.id as accountId', 'a.name as account',
    ])
    .where('s.id', '=', stateId)
    .executeTakeFirst();
}

/** A state's generation (bumped by every registration of a new commit) and deployed commit. */
export async function getStateGeneration(db: DbOrTx, id: string): Promise<Pick<StackState, 'generation' | 'commit_hash'> | undefined> {
  return db.selectFrom('stack_states').select(['generation', 'commit_hash']).where('id', '=', id).executeTakeFirst();
}

/** After a successful deploy: the state runs `commit`, from the branch again (no commit_unreachable flag). */
export async function markStateDeployed(db: DbOrTx, id: string, commit: string): Promise<void> {
  await db.updateTable('stack_states')
    .set({ commit_hash: commit, metadata: sql<string>`metadata - 'commit_unreachable'`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .execute();
}

/** After a successful destroy. */
export async function markStateDestroyed(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('stack_states').set({ status: 'destroyed', updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** States of a stack code waiting to be destroyed, by name. */
export async function listDestroyingStatesOfStackCode(db: DbOrTx, stackCodeId: string): Promise<Array<Pick<StackState, 'id' | 'commit_hash' | 'generation'>>> {
  return db.selectFrom('stack_states').select(['id', 'commit_hash', 'generation'])
    .where('stack_code_id', '=', stackCodeId).where('status', '=', 'destroying').orderBy('name').execute();
}

/** Active states of a repository's stack codes deployed from one of `commits`, locked for update. */
export async function lockActiveStatesOfRepoAtCommits(tx: Tx, repoUrl: string, commits: string[]): Promise<StackState[]> {
  return tx.selectFrom('stack_states')
    .innerJoin('stack_codes', 'stack_codes.id', 'stack_states.stack_code_id')
    .selectAll('stack_states')
    .where('stack_codes.repo_url', '=', repoUrl)
    .where('stack_states.status', '=', 'active')
    .where('stack_states.commit_hash', 'in', commits)
    .forUpdate()
    .execute();
}

/** The state of a stack code with this name, if any (state names are unique per stack code). */
export async function findStateByName(db: DbOrTx, stackCodeId: string, name: string): Promise<Pick<StackState, 'id'> | undefined> {
  return db.selectFrom('stack_states').select('id').where('stack_code_id', '=', stackCodeId).where('name', '=', name).executeTakeFirst();
}

/**
 * A state with what its drift schedule and checks need: its status, deployed commit and generation,
 * its stack code (status, current commit, stack.hcl) and account. Undefined when it does not exist.
 */
export async function getStateForDrift(db: DbOrTx, stateId: string) {
  if (!isUuid(stateId)) return undefined;
  return db
    .selectFrom('stack_states as s')
    .leftJoin('stack_codes as c', 'c.id', 's.stack_code_id')
    .innerJoin('accounts as a', 'a.id', 's.account_id')
    .select([
      's.id as stateId', 's.name as state', 's.status as stateStatus', 's.commit_hash as commit', 's.generation', 's.account_id as accountId',
      'c.id as stackCodeId', 'c.name as stack', 'c.status as codeStatus', 'c.current_commit as codeCommit', 'c.config', 'c.repo_path as repoPath',
      'a.name as account',
    ])
    .where('s.id', '=', stateId)
    .executeTakeFirst();
}

/** Ids of the states of a stack code, and of those it left loose (metadata.previous_stack_code_id). */
export async function listStateIdsOfStackCodeOrLeftLoose(db: DbOrTx, stackCodeId: string): Promise<string[]> {
  const rows = await db.selectFrom('stack_states').select('id')
    .where((eb) => eb.or([eb('stack_code_id', '=', stackCodeId), eb(sql<string>`metadata->>'previous_stack_code_id'`, '=', stackCodeId)]))
    .orderBy('id').execute();
  return rows.map((r) => r.id);
}
