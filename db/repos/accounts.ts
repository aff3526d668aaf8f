/** accounts: one row per tenant; the api makes sure its own account exists at start-up. */
import type { DbOrTx } from '../index';
import type { Account } from '../tables/accounts';

/** Returns the account by name, creating it when missing (safe when two processes race). */
export async function ensureAccount(db: DbOrTx, name: string, temporalNamespace: string): Promise<Account> {
  await db
    .insertInto('accounts')
    .values({ name, temporal_namespace: temporalNamespace })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
}

export async function getAccountName(db: DbOrTx, id: string): Promise<string> {
  const a = await db.selectFrom('accounts').select('name').where('id', '=', id).executeTakeFirstOrThrow();
  return a.name;
}
