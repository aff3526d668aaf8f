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
import { ApiError } from '../errors';
import { CredentialError, credentialGroups, resolveCredential, type AccessTokenVerifier } from '../../common/credentials';
import type { Role } from './roles';

export type { AccessTokenVerifier };

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
    const asked = accountAsked(req);
    let c;
    try {
      c = await resolveCredential(db, token, { ...(deps.accessTokens ? { accessTokens: deps.accessTokens } : {}), ...(asked ? { askedAccount: asked } : {}) });
    } catch (e) {
      if (e instanceof CredentialError) throw e.status === 401 ? unauthorized(e.message) : forbidden(e.message);
      throw e;
    }
    let member = c.kind === 'api_key' ? c.accounts[0]
      : asked ? c.accounts.find((m) => m.accountName === asked || m.accountId === asked) : c.accounts.length === 1 ? c.accounts[0] : undefined;
    if (!member) {
      if (asked) throw forbidden(`${c.name} is not a member of account ${asked}`);
      if (c.accounts.length === 0) throw forbidden(`${c.name} is not a member of any account yet: an admin adds members`);
      throw new ApiError(400, 'account_required', `${c.name} belongs to several accounts (${c.accounts.map((m) => m.accountName).join(', ')}): say which with the X-Stackly-Account header`);
    }
    member = member!;
    return {
      kind: c.kind, id: c.id, name: c.name, userId: c.userId, apiKeyId: c.apiKeyId,
      accountId: member.accountId, accountName: member.accountName, namespace: member.namespace,
      role: member.role, groups: await credentialGroups(db, c, member.accountId),
    };
  };
}
