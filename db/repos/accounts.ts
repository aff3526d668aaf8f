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

/**
 * The first step of making an account (POST /api/accounts): its row, `provisioning`. Idempotent: an
 * existing row of that name is returned as it is (`created: false`), so a retry finds the account it
 * began and completes it.
 */
export async function beginAccount(db: DbOrTx, a: { name: string; temporalNamespace: string; transitKey: string }): Promise<{ account: Account; created: boolean }> {
  const inserted = await db
    .insertInto('accounts')
    .values({ name: a.name, temporal_namespace: a.temporalNamespace, transit_key: a.transitKey, status: 'provisioning' })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { account: inserted, created: true };
  return { account: await db.selectFrom('accounts').selectAll().where('name', '=', a.name).executeTakeFirstOrThrow(), created: false };
}

export async function markAccountReady(db: DbOrTx, id: string): Promise<Account> {
  return db.updateTable('accounts').set({ status: 'ready' }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Other accounts using this Temporal namespace (a new account's namespace must be its own). */
export async function accountsInNamespace(db: DbOrTx, namespace: string, exceptId?: string): Promise<Account[]> {
  let q = db.selectFrom('accounts').selectAll().where('temporal_namespace', '=', namespace);
  if (exceptId) q = q.where('id', '<>', exceptId);
  return q.execute();
}

/** The distinct Temporal namespaces of ready accounts: what workers serve. */
export async function readyNamespaces(db: DbOrTx): Promise<string[]> {
  const rows = await db.selectFrom('accounts').select('temporal_namespace').distinct()
    .where('status', '=', 'ready').orderBy('temporal_namespace').execute();
  return rows.map((r) => r.temporal_namespace);
}

/** The account of a Temporal namespace (when several share one, as in some tests, the oldest). */
export async function accountOfNamespace(db: DbOrTx, namespace: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('temporal_namespace', '=', namespace).orderBy('created_at').executeTakeFirst();
}

/** The ids of the accounts of a Temporal namespace (activities act only in these: activities/account-guard.ts). */
export async function accountIdsOfNamespace(db: DbOrTx, namespace: string): Promise<string[]> {
  const rows = await db.selectFrom('accounts').select('id').where('temporal_namespace', '=', namespace).execute();
  return rows.map((r) => r.id);
}

export async function getAccountById(db: DbOrTx, id: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}
