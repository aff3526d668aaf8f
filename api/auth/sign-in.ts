/**
 * Signing in through an identity provider (providers.ts), the authorization-code flow with state,
 * PKCE (S256) and, for OpenID Connect, a nonce, all kept server-side in login_requests so that any
 * api instance can finish a sign-in another began:
 *
 *   GET /auth/login?provider=oidc|github[&cli=<sha256 hex of the command line's poll secret>]
 *     → 302 to the provider
 *   GET /auth/callback?code&state → the code exchanged, the user upserted (provider + subject), their
 *     groups replaced by the provider's, memberships from AUTH_ROLE_MAPPINGS, then tokens (sessions.ts),
 *     or, for a command line's sign-in, a page telling to go back to the terminal
 *   POST /auth/cli/poll {poll_secret} → 202 pending, then (once) the command line's tokens
 *
 * A state is good for one callback within 10 minutes; the command line's tokens are collected once.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Logger } from '../../common/logger';
import type { Db } from '../../db';
import {
  cancelLoginRequest, claimLoginRequest, confirmLoginRequest, consumeLoginRequest, failLoginRequest, getLoginRequest, getLoginRequestByPollHash, insertLoginRequest, setLoginRequestUser,
  type LoginRequest,
} from '../../db/repos/login-requests';
import { applyMappedMemberships, getAccountByName, getUser, setIdpGroups, upsertUser } from '../../db/repos/people';
import type { User } from '../../db/tables/people';
import { ApiError } from '../errors';
import { PROVIDER_NAMES, type Identity, type ProviderName, type SignInProvider } from './providers';
import { roleAtLeast, type Role } from './roles';
import type { Sessions, TokenPair } from './sessions';

export const LOGIN_TTL_MS = 10 * 60_000;
const POLL_SECRET = /^[A-Za-z0-9_-]{43}$/;
const POLL_HASH = /^[0-9a-f]{64}$/;

export interface RoleMapping {
  group: string;
  account: string;
  role: Role;
  provider?: ProviderName;
}

/** The accounts and roles a person's groups give them: the highest role per account. Pure. */
export function mappedRoles(identity: Pick<Identity, 'provider' | 'groups'>, mappings: readonly RoleMapping[]): Map<string, Role> {
  const out = new Map<string, Role>();
  const groups = new Set(identity.groups);
  for (const m of mappings) {
    if (!groups.has(m.group) || (m.provider && m.provider !== identity.provider)) continue;
    const had = out.get(m.account);
    if (!had || !roleAtLeast(had, m.role)) out.set(m.account, m.role);
  }
  return out;
}

/** The hash a command line puts in the login URL for its poll secret. */
export const pollHash = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export type CallbackResult =
  | { kind: 'tokens'; user: User; groups: string[]; tokens: TokenPair }
  /** A command line's sign-in: the browser confirms it with the code and this cookie (confirm()). */
  | { kind: 'cli'; user: User; groups: string[]; state: string; browserToken: string };

/** The code a command line shows: 8 letters and digits without look-alikes, as `XXXX-XXXX`. */
export function newCliCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const c = Array.from({ length: 8 }, () => alphabet[randomInt(alphabet.length)]).join('');
  return `${c.slice(0, 4)}-${c.slice(4)}`;
}
const normalCode = (c: string) => c.toUpperCase().replace(/[^A-Z0-9]/g, '');
function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export type PollResult = { status: 'pending' } | { status: 'signed_in'; login: string; tokens: TokenPair };

export interface SignIn {
  readonly providers: readonly ProviderName[];
  /** Where to send the browser (and remembers the sign-in); for a command line, the code it shows. */
  begin(q: { provider?: string; cli?: string }): Promise<{ url: URL; cliCode: string | null }>;
  /** The provider's redirect back; `query` is the raw query string. */
  complete(query: string): Promise<CallbackResult>;
  poll(secret: unknown): Promise<PollResult>;
  /** The browser's confirmation of a command line's sign-in: its cookie and the code typed. */
  confirm(state: string, browserToken: string | undefined, code: string): Promise<User>;
  readonly sessions: Sessions;
}

const bad = (message: string, code = 'invalid_request') => new ApiError(400, code, message);

export function createSignIn(deps: {
  db: Db; logger: Logger; providers: readonly SignInProvider[]; sessions: Sessions;
  /** The api's base URL as browsers reach it (known once it listens). */
  publicUrl: () => string;
  roleMappings: readonly RoleMapping[];
  /** AUTH_DEFAULT_ROLE in `defaultAccount`, for a user no mapping gives any account. */
  defaultRole?: Role;
  defaultAccount: string;
}): SignIn {
  const { db, logger } = deps;
  const byName = new Map(deps.providers.map((p) => [p.name, p]));
  const redirectUri = () => `${deps.publicUrl().replace(/\/+$/, '')}/auth/callback`;

  async function memberships(identity: Identity): Promise<Array<{ accountId: string; role: Role }>> {
    const roles = mappedRoles(identity, deps.roleMappings);
    if (roles.size === 0 && deps.defaultRole) roles.set(deps.defaultAccount, deps.defaultRole);
    const out: Array<{ accountId: string; role: Role }> = [];
    for (const [name, role] of roles) {
      const account = await getAccountByName(db, name);
      if (account) out.push({ accountId: account.id, role });
      else logger.warn({ account: name }, 'AUTH_ROLE_MAPPINGS names an account that does not exist: skipped');
    }
    return out;
  }

  /** The claimed sign-in's exchange at the provider, then the user, groups, memberships and tokens. */
  async function finish(req: LoginRequest, params: URLSearchParams, query: string): Promise<CallbackResult> {
    const state = req.state;
    const provider = byName.get(req.provider as ProviderName);
    if (!provider) throw bad(`state: this sign-in went through ${req.provider}, which is no longer configured`, 'invalid_state');
    const error = params.get('error');
    if (error) {
      const why = params.get('error_description');
      throw bad(`the identity provider refused the sign-in: ${error}${why ? ` (${why.slice(0, 200)})` : ''}`, 'sign_in_refused');
    }
    if (!params.get('code')) throw bad('code: missing from the callback');
    let identity: Identity;
    try {
      const callbackUrl = new URL(redirectUri());
      callbackUrl.search = query;
      identity = await provider.finish({ callbackUrl, redirectUri: redirectUri(), state, codeVerifier: req.code_verifier, nonce: req.nonce });
    } catch (e) {
      // The provider's message, never the code or tokens (openid-client's errors carry neither).
      const why = e instanceof oidc.ResponseBodyError ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : (e as Error).message;
      logger.warn({ provider: provider.name, why }, 'sign-in failed at the identity provider');
      throw new ApiError(400, 'sign_in_failed', `signing in with ${provider.name}: ${why}`);
    }
    const mapped = await memberships(identity);
    // A command line's sign-in waits for this browser to confirm it (confirm()): its cookie's hash.
    const browserToken = req.cli_poll_hash ? randomBytes(32).toString('base64url') : null;
    const user = await db.transaction().execute(async (tx) => {
      const u = await upsertUser(tx, { provider: identity.provider, subject: identity.subject, login: identity.login, email: identity.email, name: identity.name, signedIn: true });
      await setIdpGroups(tx, u.id, identity.groups);
      await applyMappedMemberships(tx, u.id, mapped);
      await setLoginRequestUser(tx, state, u.id, browserToken ? createHash('sha256').update(browserToken).digest('hex') : null);
      return u;
    });
    logger.info({ provider: identity.provider, userId: user.id, login: user.login, groups: identity.groups.length, cli: !!req.cli_poll_hash }, 'signed in');
    if (browserToken) return { kind: 'cli', user, groups: identity.groups, state, browserToken };
    return { kind: 'tokens', user, groups: identity.groups, tokens: await deps.sessions.start(user.id) };
  }

  return {
    providers: [...byName.keys()],
    sessions: deps.sessions,

    async begin(q) {
      if (byName.size === 0) throw new ApiError(404, 'sign_in_not_configured', 'no identity provider is configured on this api (AUTH_OIDC_* or AUTH_GITHUB_*)');
      let name = q.provider;
      if (name === undefined || name === '') {
        if (byName.size > 1) throw bad(`provider: say which identity provider (${[...byName.keys()].join(' or ')})`);
        name = [...byName.keys()][0]!;
      }
      const provider = byName.get(name as ProviderName);
      if (!provider) {
        throw bad(PROVIDER_NAMES.includes(name as ProviderName)
          ? `provider: ${name} is not configured on this api (configured: ${[...byName.keys()].join(', ')})`
          : `provider: must be one of ${[...byName.keys()].join(', ')}`);
      }
      if (q.cli !== undefined && !POLL_HASH.test(q.cli)) throw bad('cli: expected the SHA-256 (64 hex digits) of the command line\'s poll secret');
      const state = oidc.randomState();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const nonce = provider.usesNonce ? oidc.randomNonce() : null;
      const cliCode = q.cli !== undefined ? newCliCode() : null;
      let url: URL;
      try {
        url = await provider.authorizationUrl({ redirectUri: redirectUri(), state, codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier), nonce });
      } catch (e) {
        logger.warn({ provider: provider.name, why: (e as Error).message }, 'sign-in cannot start: the identity provider is unavailable');
        throw new ApiError(503, 'identity_provider_unavailable', `${provider.name}: ${(e as Error).message}`);
      }
      try {
        await insertLoginRequest(db, { state, provider: provider.name, codeVerifier, nonce, cliPollHash: q.cli ?? null, cliCode, expiresAt: new Date(Date.now() + LOGIN_TTL_MS) });
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new ApiError(409, 'login_in_progress', 'cli: a sign-in with this poll secret was started already: start a new one');
        throw e;
      }
      return { url, cliCode };
    },

    async complete(query) {
      const params = new URLSearchParams(query);
      const state = params.get('state');
      if (!state) throw bad('state: missing from the callback', 'invalid_state');
      const req = await getLoginRequest(db, state);
      if (!req) throw bad('state: no sign-in in progress has this state (unknown, or older than a day)', 'invalid_state');
      if (req.completed_at) throw bad('state: this sign-in was already completed (a replayed callback): start a new sign-in', 'invalid_state');
      if (req.expires_at.getTime() <= Date.now()) throw bad('state: this sign-in has expired (10 minutes): start a new sign-in', 'invalid_state');
      if (!(await claimLoginRequest(db, state))) throw bad('state: this sign-in was already completed (a replayed callback): start a new sign-in', 'invalid_state');
      // From here on the state is used up: a failure closes it, so a command line waiting for it stops.
      try {
        return await finish(req, params, query);
      } catch (e) {
        await failLoginRequest(db, state);
        throw e;
      }
    },

    async confirm(state, browserToken, code) {
      const req = await getLoginRequest(db, state);
      const refuse = (m: string) => new ApiError(400, 'confirmation_refused', m);
      if (!req || !req.cli_poll_hash || !req.user_id || !req.cli_browser_hash || !req.cli_code) throw refuse('state: no command-line sign-in waits for confirmation with this state');
      if (req.cli_confirmed_at || req.consumed_at) throw refuse('this sign-in was confirmed already');
      if (req.expires_at.getTime() <= Date.now()) throw refuse('this sign-in has expired (10 minutes): run stackly login again');
      // Only the browser that finished the sign-in may confirm it (its cookie), and only with the code
      // the command line shows: a login URL someone else started gives them nothing.
      if (!browserToken || !sameSecret(createHash('sha256').update(browserToken).digest('hex'), req.cli_browser_hash)) {
        throw refuse('this browser did not finish this sign-in (its confirmation cookie is missing)');
      }
      if (!sameSecret(normalCode(code), normalCode(req.cli_code))) {
        await cancelLoginRequest(db, state);
        throw refuse('code: not the code the command line shows; this sign-in is cancelled: if you did not run stackly login yourself just now, someone tried to get your tokens');
      }
      if (!(await confirmLoginRequest(db, state))) throw refuse('this sign-in was confirmed already');
      const user = await getUser(db, req.user_id);
      if (!user) throw refuse('the signed-in user no longer exists');
      logger.info({ userId: user.id, login: user.login }, 'command-line sign-in confirmed');
      return user;
    },

    async poll(secret) {
      if (typeof secret !== 'string' || !POLL_SECRET.test(secret)) throw bad('poll_secret: expected the 43-character base64url secret whose hash the login URL carries');
      const req = await getLoginRequestByPollHash(db, pollHash(secret));
      if (!req) throw new ApiError(404, 'unknown_login', 'poll_secret: no sign-in was started with it (open the login URL first)');
      if (req.consumed_at && !req.user_id) throw new ApiError(400, 'sign_in_failed', 'the sign-in failed at the identity provider: start a new one');
      if (req.consumed_at) throw new ApiError(410, 'login_collected', 'poll_secret: this sign-in\'s tokens were collected already');
      // Claimed by the callback but not finished yet (the provider is answering), or not yet confirmed
      // at the browser with the command line's code: still pending.
      if (!req.completed_at || !req.user_id || !req.cli_confirmed_at) {
        if (req.expires_at.getTime() <= Date.now()) throw new ApiError(410, 'login_expired', 'the sign-in was not finished within 10 minutes: start a new one');
        return { status: 'pending' };
      }
      if (!(await consumeLoginRequest(db, req.state))) throw new ApiError(410, 'login_collected', 'poll_secret: this sign-in\'s tokens were collected already');
      const user = await getUser(db, req.user_id!);
      if (!user) throw new ApiError(410, 'login_expired', 'the signed-in user no longer exists');
      return { status: 'signed_in', login: user.login, tokens: await deps.sessions.start(user.id) };
    },
  };
}
