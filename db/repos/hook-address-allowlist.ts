/** hook_address_allowlist: private/loopback/link-local ranges an account's admins let webhook hooks reach. */
import type { DbOrTx } from '../index';
import type { HookAddressAllowRow } from '../tables/execution-secrets';

export async function addHookAddress(db: DbOrTx, accountId: string, cidr: string, by: string): Promise<void> {
  await db.insertInto('hook_address_allowlist').values({ account_id: accountId, cidr, created_by: by })
    .onConflict((oc) => oc.columns(['account_id', 'cidr']).doNothing()).execute();
}

export async function removeHookAddress(db: DbOrTx, accountId: string, cidr: string): Promise<boolean> {
  const r = await db.deleteFrom('hook_address_allowlist').where('account_id', '=', accountId).where('cidr', '=', cidr).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function listHookAddresses(db: DbOrTx, accountId: string): Promise<HookAddressAllowRow[]> {
  return db.selectFrom('hook_address_allowlist').selectAll().where('account_id', '=', accountId).orderBy('cidr').execute();
}
