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

/**
 * Memberships given by sign-in's role mappings (source idp): sets exactly these for the user, leaving
 * an admin's memberships (source admin) as they are. A mapped account the user no longer matches
 * loses its idp membership.
 */
export async function applyMappedMemberships(db: DbOrTx, userId: string, mapped: ReadonlyArray<{ accountId: string; role: Role }>): Promise<void> {
  const keep = mapped.map((m) => m.accountId);
  let del = db.deleteFrom('memberships').where('user_id', '=', userId).where('source', '=', 'idp');
  if (keep.length) del = del.where('account_id', 'not in', keep);
  await del.execute();
  for (const m of mapped) {
    await db.insertInto('memberships').values({ account_id: m.accountId, user_id: userId, role: m.role, source: 'idp' })
      .onConflict((oc) => oc.columns(['account_id', 'user_id']).doUpdateSet({ role: m.role }).where('memberships.source', '=', 'idp'))
      .execute();
  }
}

export interface Member {
  user_id: string;
  login: string;
  email: string | null;
  name: string | null;
  provider: User['provider'];
  role: Role;
  source: 'admin' | 'idp';
  last_login_at: Date | null;
  created_at: Date;
}

/** The members of an account, by login. */
export async function listMembers(db: DbOrTx, accountId: string): Promise<Member[]> {
  return db.selectFrom('memberships as m').innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.login', 'u.email', 'u.name', 'u.provider', 'm.role', 'm.source', 'u.last_login_at', 'm.created_at'])
    .where('m.account_id', '=', accountId).orderBy('u.login').orderBy('m.user_id').execute();
}

export async function getMembership(db: DbOrTx, accountId: string, userId: string): Promise<Membership | undefined> {
  return db.selectFrom('memberships').selectAll().where('account_id', '=', accountId).where('user_id', '=', userId).executeTakeFirst();
}

/** An admin's decision on a member's role: made or changed, and from now on not changed by sign-in. */
export async function setMemberRoleByAdmin(db: DbOrTx, accountId: string, userId: string, role: Role): Promise<void> {
  await db.insertInto('memberships').values({ account_id: accountId, user_id: userId, role, source: 'admin' })
    .onConflict((oc) => oc.columns(['account_id', 'user_id']).doUpdateSet({ role, source: 'admin' })).execute();
}

export async function removeMembership(db: DbOrTx, accountId: string, userId: string): Promise<boolean> {
  const r = await db.deleteFrom('memberships').where('account_id', '=', accountId).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function countAdmins(db: DbOrTx, accountId: string): Promise<number> {
  const r = await db.selectFrom('memberships').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId).where('role', '=', 'admin').executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The groups an admin mapped a user to in an account (source admin). */
export async function adminGroupsOf(db: DbOrTx, userId: string, accountId: string): Promise<string[]> {
  const rows = await db.selectFrom('user_groups').select('group_name').where('user_id', '=', userId)
    .where('source', '=', 'admin').where('account_id', '=', accountId).orderBy('group_name').execute();
  return rows.map((r) => r.group_name);
}
