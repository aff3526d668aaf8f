/**
 * A signed-in user's tokens: a short-lived access token (tokens.ts) and an opaque refresh token
 * (`srt_<256 random bits>`), stored only as its SHA-256 (db/repos/refresh-tokens.ts). A refresh token
 * is good for one use: `POST /auth/token` answers a new pair and the old one is replaced; presenting
 * a replaced one again means it leaked (or was copied), so the whole chain from it is revoked and the
 * user signs in again. The sign-in ends AUTH_SESSION_TTL_SECONDS after it began, however often it
 * was refreshed: groups and roles from the identity provider are renewed at each sign-in.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret } from '../../common/api-keys';
import type { Db } from '../../db';
import {
  findRefreshTokenByHash, insertRefreshToken, lockRefreshTokenByHash, markRefreshTokenReplaced, revokeRefreshChain,
} from '../../db/repos/refresh-tokens';
import { ApiError } from '../errors';
import type { AccessTokens } from './tokens';

const REFRESH = /^srt_[A-Za-z0-9_-]{43}$/;

/** What `POST /auth/token`, the callback and the command line's poll answer. */
export interface TokenPair {
  token_type: 'Bearer';
  access_token: string;
  /** Seconds the access token is good for. */
  expires_in: number;
  refresh_token: string;
  /** When the sign-in ends (the refresh token cannot be renewed past it). */
  refresh_expires_at: string;
}

export interface Sessions {
  /** A new sign-in of this user. */
  start(userId: string): Promise<TokenPair>;
  /** Rotates a refresh token; 401 when it is unknown, expired, revoked, or used before (which revokes its chain). */
  refresh(refreshToken: string): Promise<TokenPair>;
  /** Ends the sign-in the refresh token belongs to; false when there was nothing to end. */
  logout(refreshToken: string): Promise<boolean>;
}

const invalid = (message: string) => new ApiError(401, 'invalid_refresh_token', message);

export function createSessions(deps: { db: Db; accessTokens: AccessTokens; sessionTtlSeconds: number; onReuse?: (userId: string) => void }): Sessions {
  const { db, accessTokens } = deps;

  const pair = async (userId: string, refresh: string, refreshExpiresAt: Date): Promise<TokenPair> => {
    const at = await accessTokens.issue(userId);
    return {
      token_type: 'Bearer', access_token: at.token, expires_in: accessTokens.ttlSeconds,
      refresh_token: refresh, refresh_expires_at: refreshExpiresAt.toISOString(),
    };
  };
  const newRefresh = () => `srt_${randomBytes(32).toString('base64url')}`;

  return {
    async start(userId) {
      const refresh = newRefresh();
      const row = await insertRefreshToken(db, { userId, hash: hashSecret(refresh), expiresAt: new Date(Date.now() + deps.sessionTtlSeconds * 1000) });
      return pair(userId, refresh, row.expires_at);
    },

    async refresh(refreshToken) {
      if (!REFRESH.test(refreshToken)) throw invalid('refresh_token: not a Stackly refresh token');
      type Outcome = { kind: 'error'; message: string } | { kind: 'reused'; id: string; userId: string } | { kind: 'rotated'; userId: string; next: string; expiresAt: Date };
      const outcome = await db.transaction().execute(async (tx): Promise<Outcome> => {
        const row = await lockRefreshTokenByHash(tx, hashSecret(refreshToken));
        if (!row) return { kind: 'error', message: 'refresh_token: unknown' };
        if (row.revoked_at) return { kind: 'error', message: 'refresh_token: revoked (signed out, or a copy of it was used): sign in again' };
        if (row.replaced_by) return { kind: 'reused', id: row.id, userId: row.user_id };
        if (row.expires_at.getTime() <= Date.now()) return { kind: 'error', message: 'refresh_token: the sign-in has expired: sign in again' };
        const next = newRefresh();
        const successor = await insertRefreshToken(tx, { userId: row.user_id, hash: hashSecret(next), expiresAt: row.expires_at });
        await markRefreshTokenReplaced(tx, row.id, successor.id);
        return { kind: 'rotated', userId: row.user_id, next, expiresAt: row.expires_at };
      });
      if (outcome.kind === 'reused') {
        // Outside the rotation's transaction, so the revocation stays even though the request fails.
        await revokeRefreshChain(db, outcome.id);
        deps.onReuse?.(outcome.userId);
        throw invalid('refresh_token: already used once; this sign-in is now revoked: sign in again');
      }
      if (outcome.kind === 'error') throw invalid(outcome.message);
      return pair(outcome.userId, outcome.next, outcome.expiresAt);
    },

    async logout(refreshToken) {
      if (!REFRESH.test(refreshToken)) throw invalid('refresh_token: not a Stackly refresh token');
      const row = await findRefreshTokenByHash(db, hashSecret(refreshToken));
      if (!row) return false;
      return (await revokeRefreshChain(db, row.id)) > 0;
    },
  };
}
