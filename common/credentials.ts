/**
 * What a Stackly credential may act in: an API key (`stk_…`, bound to one account with a role, never
 * beyond what its user may do there now) or a signed-in user's access token (every account the user
 * is a member of). Read from Postgres on every call, so a revoked key, a removed member or a changed
 * role takes effect at once. Shared by the api (api/auth/principal.ts picks the account of a request)
 * and the codec server (a credential decodes only the namespaces of its accounts).
 */
import type { Db } from '../db';
import { findApiKeyByPrefix, getAccount, getUser, groupsOf, membershipsOf, touchApiKey } from '../db/repos/people';
import { ROLES, type Role } from '../db/tables/people';
import { parseApiKey, secretMatches } from './api-keys';

/** Verifies a signed-in user's access token (api/auth/tokens.ts); undefined when it is not valid. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<{ userId: string } | undefined>;
}

/** One account a credential may act in. */
export interface CredentialAccount {
  accountId: string;
  accountName: string;
  namespace: string;
  role: Role;
}

export interface ResolvedCredential {
  kind: 'user' | 'api_key';
  /** users.id, or api_keys.id for a key made without a user. */
  id: string;
  /** The user's login, or `key:<name>` for a key of no user. */
  name: string;
  userId: string | null;
  apiKeyId: string | null;
  /** An API key: its one account. A user's token: every account they belong to (maybe none). */
  accounts: CredentialAccount[];
}

/** A credential that is not valid (401) or that names no usable account (403); the message says which. */
export class CredentialError extends Error {
  constructor(readonly status: 401 | 403, message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

const lowerRole = (a: Role, b: Role): Role => (ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b);

/**
 * Resolves a bearer credential. `askedAccount` (name or id): for an API key, another account than the
 * key's is refused with 403 naming both.
 */
export async function resolveCredential(
  db: Db, token: string, o: { accessTokens?: AccessTokenVerifier; askedAccount?: string } = {},
): Promise<ResolvedCredential> {
  const key = parseApiKey(token);
  if (key) {
    const row = await findApiKeyByPrefix(db, key.prefix);
    if (!row || !secretMatches(key.secret, row.hash)) throw new CredentialError(401, 'invalid API key');
    if (row.revoked_at) throw new CredentialError(401, `API key ${row.prefix} was revoked`);
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) throw new CredentialError(401, `API key ${row.prefix} has expired`);
    const account = await getAccount(db, row.account_id);
    if (!account) throw new CredentialError(401, 'the API key\'s account no longer exists');
    const asked = o.askedAccount;
    if (asked && asked !== account.name && asked !== account.id) throw new CredentialError(403, `this API key belongs to account ${account.name}, not ${asked}`);
    await touchApiKey(db, row.id);
    const base = { accountId: account.id, accountName: account.name, namespace: account.temporal_namespace };
    if (!row.user_id) {
      return { kind: 'api_key', id: row.id, name: `key:${row.name}`, userId: null, apiKeyId: row.id, accounts: [{ ...base, role: row.role }] };
    }
    // A key acts for its user, never beyond what that user may do in the account now.
    const user = await getUser(db, row.user_id);
    const member = user && (await membershipsOf(db, user.id)).find((m) => m.account_id === account.id);
    if (!user || !member) throw new CredentialError(401, `API key ${row.prefix}: its user is no longer a member of account ${account.name}`);
    return {
      kind: 'api_key', id: user.id, name: user.login, userId: user.id, apiKeyId: row.id,
      accounts: [{ ...base, role: lowerRole(row.role, member.role) }],
    };
  }
  const claims = o.accessTokens ? await o.accessTokens.verify(token) : undefined;
  if (!claims) throw new CredentialError(401, 'invalid or expired access token');
  const user = await getUser(db, claims.userId);
  if (!user) throw new CredentialError(401, 'the signed-in user no longer exists');
  const memberships = await membershipsOf(db, user.id);
  return {
    kind: 'user', id: user.id, name: user.login, userId: user.id, apiKeyId: null,
    accounts: memberships.map((m) => ({ accountId: m.account_id, accountName: m.account_name, namespace: m.temporal_namespace, role: m.role })),
  };
}

/** The groups of a resolved credential's user in one account (none for a key of no user). */
export async function credentialGroups(db: Db, c: ResolvedCredential, accountId: string): Promise<string[]> {
  return c.userId ? groupsOf(db, c.userId, accountId) : [];
}

/** The Temporal namespaces a credential may read (its accounts' namespaces), for the codec server. */
export async function credentialNamespaces(db: Db, token: string, accessTokens?: AccessTokenVerifier): Promise<{ name: string; namespaces: string[] }> {
  const c = await resolveCredential(db, token, accessTokens ? { accessTokens } : {});
  return { name: c.name, namespaces: [...new Set(c.accounts.map((a) => a.namespace))] };
}
