/** hook_env_grants: the STACKLY_HOOK_* names an admin lets a repository's hooks use (secret_env / url_env). */
import type { DbOrTx } from '../index';
import type { HookEnvGrantRow } from '../tables/execution-secrets';

export async function grantHookEnv(db: DbOrTx, g: { accountId: string; repositoryId: string; name: string; by: string }): Promise<void> {
  await db.insertInto('hook_env_grants').values({ account_id: g.accountId, repository_id: g.repositoryId, env_name: g.name, created_by: g.by })
    .onConflict((oc) => oc.columns(['repository_id', 'env_name']).doNothing()).execute();
}

export async function revokeHookEnv(db: DbOrTx, accountId: string, repositoryId: string, name: string): Promise<boolean> {
  const r = await db.deleteFrom('hook_env_grants').where('account_id', '=', accountId).where('repository_id', '=', repositoryId).where('env_name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function listHookEnvGrants(db: DbOrTx, accountId: string, repositoryId?: string): Promise<HookEnvGrantRow[]> {
  let q = db.selectFrom('hook_env_grants').selectAll().where('account_id', '=', accountId);
  if (repositoryId) q = q.where('repository_id', '=', repositoryId);
  return q.orderBy('env_name').execute();
}
