/**
 * Who is calling: every REST request carries `Authorization: Bearer <credential>`, either an API key
 * (`stk_…`, bound to one account with a role) or a signed-in user's access token (a short-lived JWT
 * of api/auth/tokens.ts; the account is the `X-Stackly-Account` header, or the user's only one).
 * The role and groups are read from Postgres on every request, so a revoked key, a removed member
 * or a changed role takes effect at once. 401 without a valid credential; 403 naming the account or
 * role that is missing.
 */
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../db';
import { findApiKeyByPrefix, getAccount, getAccountByName, getUser, groupsOf, membershipsOf, touchApiKey } from '../../db/repos/people';
import { ApiError } from '../errors';
import { parseApiKey, secretMatches } from '../../common/api-keys';
import { lowerRole, type Role } from './roles';

export interface Principal {
  kind: 'user' | 'api_key';
  /** users.id, or api_keys.id for a key made without a user. */
  id: string;
  /** Who, as shown and as approvals name them: the user's login, or `key:<name>` for a key of no user. */
  name: string;
  userId: string | null;
  /** The API key used, if any. */
  apiKeyId: string | null;
  accountId: string;
  accountName: string;
  namespace: string;
  role: Role;
  /** Groups for approval policies (identity provider, or an admin's mapping in this account). */
  groups: string[];
}

/** Verifies a signed-in user's access token (api/auth/tokens.ts); undefined when it is not valid. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<{ userId: string } | undefined>;
}

export const ACCOUNT_HEADER = 'x-stackly-account';

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);
const forbidden = (message: string) => new ApiError(403, 'forbidden', message);

function bearer(req: FastifyRequest): string {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  if (!m) throw unauthorized('missing bearer token');
  return m[1]!;
}

function accountAsked(req: FastifyRequest): string | undefined {
  const h = req.headers[ACCOUNT_HEADER];
  const v = Array.isArray(h) ? h[0] : h;
  return v && v.trim() ? v.trim() : undefined;
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

export function createAuthenticator(deps: { db: Db; accessTokens?: AccessTokenVerifier }): Authenticate {
  const { db } = deps;
  return async (req) => {
    const token = bearer(req);
    const key = parseApiKey(token);
    if (key) {
      const row = await findApiKeyByPrefix(db, key.prefix);
      if (!row || !secretMatches(key.secret, row.hash)) throw unauthorized('invalid API key');
      if (row.revoked_at) throw unauthorized(`API key ${row.prefix} was revoked`);
      if (row.expires_at && row.expires_at.getTime() <= Date.now()) throw unauthorized(`API key ${row.prefix} has expired`);
      const account = await getAccount(db, row.account_id);
      if (!account) throw unauthorized('the API key\'s account no longer exists');
      const asked = accountAsked(req);
      if (asked && asked !== account.name && asked !== account.id) throw forbidden(`this API key belongs to account ${account.name}, not ${asked}`);
      await touchApiKey(db, row.id);
      const base = { kind: 'api_key' as const, apiKeyId: row.id, accountId: account.id, accountName: account.name, namespace: account.temporal_namespace };
      if (!row.user_id) return { ...base, id: row.id, name: `key:${row.name}`, userId: null, role: row.role, groups: [] };
      // A key acts for its user, never beyond what that user may do in the account now.
      const user = await getUser(db, row.user_id);
      const member = user && (await membershipsOf(db, user.id)).find((m) => m.account_id === account.id);
      if (!user || !member) throw unauthorized(`API key ${row.prefix}: its user is no longer a member of account ${account.name}`);
      return { ...base, id: user.id, name: user.login, userId: user.id, role: lowerRole(row.role, member.role), groups: await groupsOf(db, user.id, account.id) };
    }
    const claims = deps.accessTokens ? await deps.accessTokens.verify(token) : undefined;
    if (!claims) throw unauthorized('invalid or expired access token');
    const user = await getUser(db, claims.userId);
    if (!user) throw unauthorized('the signed-in user no longer exists');
    const memberships = await membershipsOf(db, user.id);
    const asked = accountAsked(req);
    let member = asked ? memberships.find((m) => m.account_name === asked || m.account_id === asked) : memberships.length === 1 ? memberships[0] : undefined;
    if (!member) {
      if (asked) {
        const exists = await getAccountByName(db, asked);
        throw forbidden(exists ? `${user.login} is not a member of account ${asked}` : `${user.login} is not a member of account ${asked}`);
      }
      if (memberships.length === 0) throw forbidden(`${user.login} is not a member of any account yet: an admin adds members`);
      throw new ApiError(400, 'account_required', `${user.login} belongs to several accounts (${memberships.map((m) => m.account_name).join(', ')}): say which with the X-Stackly-Account header`);
    }
    member = member!;
    return {
      kind: 'user', id: user.id, name: user.login, userId: user.id, apiKeyId: null,
      accountId: member.account_id, accountName: member.account_name, namespace: member.temporal_namespace,
      role: member.role, groups: await groupsOf(db, user.id, member.account_id),
    };
  };
}
