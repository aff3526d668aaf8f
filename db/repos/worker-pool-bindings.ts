/**
 * worker_pool_bindings: which worker pools (the `pool` label of execution workers) a repository's
 * stacks may run on, set by admins. A repository's own bindings replace its account's; with neither,
 * its stacks may use only workers without a `pool` label (activities/pools.ts).
 */
import type { DbOrTx } from '../index';
import type { WorkerPoolBindingRow } from '../tables/execution-secrets';

/** Replaces the pools bound to a repository (or, with repositoryId null, to the account). */
export async function setPoolBindings(db: DbOrTx, a: { accountId: string; repositoryId: string | null; pools: string[]; by: string }): Promise<void> {
  let del = db.deleteFrom('worker_pool_bindings').where('account_id', '=', a.accountId);
  del = a.repositoryId === null ? del.where('repository_id', 'is', null) : del.where('repository_id', '=', a.repositoryId);
  await del.execute();
  if (a.pools.length) {
    await db.insertInto('worker_pool_bindings')
      .values([...new Set(a.pools)].map((pool) => ({ account_id: a.accountId, repository_id: a.repositoryId, pool, created_by: a.by })))
      .execute();
  }
}

export async function listPoolBindings(db: DbOrTx, accountId: string): Promise<WorkerPoolBindingRow[]> {
  return db.selectFrom('worker_pool_bindings').selectAll().where('account_id', '=', accountId).orderBy('repository_id').orderBy('pool').execute();
}

/**
 * The pools a repository's stacks may use: the repository's own bindings, else its account's, else
 * none (`source` says which, for messages).
 */
export async function boundPools(db: DbOrTx, accountId: string, repositoryId: string | null | undefined): Promise<{ pools: string[]; source: 'repository' | 'account' | 'none' }> {
  const rows = await db.selectFrom('worker_pool_bindings').select(['repository_id', 'pool']).where('account_id', '=', accountId).execute();
  const own = repositoryId ? rows.filter((r) => r.repository_id === repositoryId).map((r) => r.pool) : [];
  if (own.length) return { pools: own.sort(), source: 'repository' };
  const acct = rows.filter((r) => r.repository_id === null).map((r) => r.pool);
  if (acct.length) return { pools: acct.sort(), source: 'account' };
  return { pools: [], source: 'none' };
}
