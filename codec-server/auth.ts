/**
 * Who may call /encode and /decode:
 *  - a bearer token from CODEC_AUTH_TOKENS (CLI, scripts, a UI with SSO that passes a token), or
 *  - a session cookie made by POST /login with such a token, accepted only from an allowed CORS
 *    origin (the dev Web UI, which sends no Authorization header but can include credentials).
 * Tokens are compared in constant time; session ids are random and kept hashed in memory.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Returns a checker that tests a candidate against every configured token without an early exit. */
export function tokenChecker(tokens: readonly string[]): (candidate: string | undefined) => boolean {
  if (tokens.length === 0) throw new Error('the codec server needs at least one auth token');
  const digests = tokens.map(digest);
  return (candidate) => {
    if (!candidate) return false;
    const d = digest(candidate);
    let ok = false;
    for (const t of digests) ok = timingSafeEqual(t, d) || ok;
    return ok;
  };
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export const SESSION_COOKIE = 'stackly_codec_session';

/** In-memory sessions (bounded): a restart signs everyone out, which is fine for an operator login. */
export class SessionStore {
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSessions = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  create(): { id: string; maxAgeSeconds: number } {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(digest(id).toString('hex'), this.now() + this.ttlMs);
    while (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    return { id, maxAgeSeconds: Math.floor(this.ttlMs / 1000) };
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const k = digest(id).toString('hex');
    const exp = this.sessions.get(k);
    if (exp === undefined) return false;
    if (exp <= this.now()) {
      this.sessions.delete(k);
      return false;
    }
    return true;
  }

  revoke(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id).toString('hex'));
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
