/** account_policies: an account's policies set by admins through the API (issue 15). */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';
import type { AccountPolicy } from '../tables/account-policies';

export interface PutAccountPolicy {
  accountId: string;
  name: string;
  source: string;
  policy: unknown;
  selector: unknown;
  updatedBy: string;
}

/** Creates or replaces the account's policy of that name; `created` says which. */
export async function putAccountPolicy(db: DbOrTx, p: PutAccountPolicy): Promise<{ row: AccountPolicy; created: boolean }> {
  const row = await db
    .insertInto('account_policies')
    .values({
      account_id: p.accountId, name: p.name, source: p.source, policy: JSON.stringify(p.policy), selector: JSON.stringify(p.selector), updated_by: p.updatedBy,
    })
    .onConflict((oc) => oc.columns(['account_id', 'name']).doUpdateSet({
      source: (eb) => eb.ref('excluded.source'), policy: (eb) => eb.ref('excluded.policy'), selector: (eb) => eb.ref('excluded.selector'),
      updated_by: (eb) => eb.ref('excluded.updated_by'), updated_at: sql<Date>`now()`,
    }))
    .returningAll()
    .returning(sql<boolean>`xmax = 0`.as('created'))
    .executeTakeFirstOrThrow();
  const { created, ...rest } = row as AccountPolicy & { created: boolean };
  return { row: rest, created };
}

export async function listAccountPolicies(db: DbOrTx, accountId: string): Promise<AccountPolicy[]> {
  return db.selectFrom('account_policies').selectAll().where('account_id', '=', accountId).orderBy('name').execute();
}

export async function getAccountPolicy(db: DbOrTx, accountId: string, name: string): Promise<AccountPolicy | undefined> {
  return db.selectFrom('account_policies').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
}

export async function deleteAccountPolicy(db: DbOrTx, accountId: string, name: string): Promise<boolean> {
  const r = await db.deleteFrom('account_policies').where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
