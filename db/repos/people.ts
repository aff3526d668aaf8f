/** users, memberships, user_groups, api_keys: who a caller is, their role in an account and their groups. */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';
import type { ApiKey, Membership, Role, User } from '../tables/people';
import type { Account } from '../tables/accounts';

export async function getUser(db: DbOrTx, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Finds or creates the user an identity provider vouches for; refreshes login, email, name and last sign-in. */
export async function upsertUser(db: DbOrTx, u: { provider: User['provider']; subject: string; login: string; email?: string | null; name?: string | null; signedIn?: boolean }): Promise<User> {
  return db.insertInto('users')
    .values({ provider: u.provider, subject: u.subject, login: u.login, email: u.email ?? null, name: u.name ?? null, ...(u.signedIn ? { last_login_at: sql<Date>`now()` } : {}) })
    .onConflict((oc) => oc.columns(['provider', 'subject']).doUpdateSet({
      login: u.login, email: u.email ?? null, name: u.name ?? null, ...(u.signedIn ? { last_login_at: sql<Date>`now()` } : {}),
    }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The logins of the users who are these people: a GitHub login (users who signed in with GitHub) or an
 * e-mail address (any user with that address). Case-insensitive, as GitHub's logins and e-mail are.
 */
export async function loginsOfPeople(db: DbOrTx, people: readonly string[]): Promise<string[]> {
  const names = [...new Set(people.map((p) => p.toLowerCase()))];
  if (names.length === 0) return [];
  const rows = await db.selectFrom('users').select('login')
    .where((eb) => eb.or([
      eb.and([eb('provider', '=', 'github'), eb(sql<string>`lower(login)`, 'in', names)]),
      eb(sql<string>`lower(email)`, 'in', names),
    ]))
    .execute();
  return rows.map((r) => r.login);
}

export async function getAccount(db: DbOrTx, id: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getAccountByName(db: DbOrTx, name: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
}

/** A user's memberships with their accounts, by account name. */
export async function membershipsOf(db: DbOrTx, userId: string): Promise<Array<Membership & { account_name: string; temporal_namespace: string }>> {
  return db.selectFrom('memberships as m').innerJoin('accounts as a', 'a.id', 'm.account_id')
    .selectAll('m').select(['a.name as account_name', 'a.temporal_namespace'])
    .where('m.user_id', '=', userId).orderBy('a.name').execute();
}

export async function setMembership(db: DbOrTx, accountId: string, userId: string, role: Role): Promise<void> {
  await db.insertInto('memberships').values({ account_id: accountId, user_id: userId, role })
    .onConflict((oc) => oc.columns(['account_id', 'user_id']).doUpdateSet({ role })).execute();
}

/**
 * The user's groups in an account: those the identity provider gave at their last sign-in, and those
 * an admin of that account mapped them to. Sorted, without repeats.
 */
export async function groupsOf(db: DbOrTx, userId: string, accountId: string): Promise<string[]> {
  const rows = await db.selectFrom('user_groups').select('group_name').distinct()
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('source', '=', 'idp'), eb.and([eb('source', '=', 'admin'), eb('account_id', '=', accountId)])]))
    .orderBy('group_name').execute();
  return rows.map((r) => r.group_name);
}

/** Replaces the groups the identity provider gave a user (at each sign-in). */
export async function setIdpGroups(db: DbOrTx, userId: string, groups: readonly string[]): Promise<void> {
  await db.deleteFrom('user_groups').where('user_id', '=', userId).where('source', '=', 'idp').execute();
  if (groups.length) {
    await db.insertInto('user_groups').values([...new Set(groups)].map((g) => ({ user_id: userId, group_name: g, source: 'idp' as const, account_id: null }))).execute();
  }
}

/** An admin's mapping of a user to a group in one account. */
export async function addAdminGroup(db: DbOrTx, accountId: string, userId: string, group: string): Promise<void> {
  await db.insertInto('user_groups').values({ user_id: userId, group_name: group, source: 'admin', account_id: accountId })
    .onConflict((oc) => oc.doNothing()).execute();
}

export async function removeAdminGroup(db: DbOrTx, accountId: string, userId: string, group: string): Promise<number> {
  const r = await db.deleteFrom('user_groups').where('user_id', '=', userId).where('group_name', '=', group)
    .where('source', '=', 'admin').where('account_id', '=', accountId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function findApiKeyByPrefix(db: DbOrTx, prefix: string): Promise<ApiKey | undefined> {
  return db.selectFrom('api_keys').selectAll().where('prefix', '=', prefix).executeTakeFirst();
}

/** Records a key's use, at most once a minute (a write per request would be wasteful). */
export async function touchApiKey(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: sql<Date>`now()` }).where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`)]))
    .execute();
}

export async function insertApiKey(db: DbOrTx, k: { accountId: string; userId: string | null; name: string; role: Role; prefix: string; hash: string; expiresAt: Date | null }): Promise<ApiKey> {
  return db.insertInto('api_keys').values({
    account_id: k.accountId, user_id: k.userId, name: k.name, role: k.role, prefix: k.prefix, hash: k.hash, expires_at: k.expiresAt,
  }).returningAll().executeTakeFirstOrThrow();
}

export async function listApiKeys(db: DbOrTx, accountId: string): Promise<ApiKey[]> {
  return db.selectFrom('api_keys').selectAll().where('account_id', '=', accountId).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

/** Revokes a key of the account; false when there is no such key (or it was revoked already). */
export async function revokeApiKey(db: DbOrTx, accountId: string, id: string): Promise<boolean> {
  const r = await db.updateTable('api_keys').set({ revoked_at: sql<Date>`now()` })
    .where('account_id', '=', accountId).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
