/**
 * Who may call /encode and /decode, and for which namespaces:
 *  - a platform token from CODEC_AUTH_TOKENS (operators, CLI, scripts): every namespace;
 *  - a Stackly credential (an API key, or a signed-in user's access token), checked against Postgres
 *    on every request (common/credentials.ts, as the api does): the namespaces of its accounts only;
 *  - a session cookie made by POST /login with either, accepted only from an allowed CORS origin (the
 *    dev Web UI, which sends no Authorization header but can include credentials); it carries what
 *    its credential carries, re-checked on every request (a revoked key stops its sessions at once).
 * Tokens are compared in constant time; session ids are random and kept hashed in memory.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Returns a checker that tests a candidate against every configured token without an early exit. */
export function tokenChecker(tokens: readonly string[]): (candidate: string | undefined) => boolean {
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

/** What a credential may decode: every namespace (a platform token), or those of its accounts. */
export type Grant = { who: string; namespaces: 'all' } | { who: string; namespaces: ReadonlySet<string> };

export const grantCovers = (g: Grant, namespace: string): boolean => g.namespaces === 'all' || g.namespaces.has(namespace);

/**
 * In-memory sessions (bounded): a restart signs everyone out, which is fine for an operator login.
 * Each keeps the credential it was made with (in this process's memory only), so every request is
 * checked again with it.
 */
export class SessionStore {
  private readonly sessions = new Map<string, { exp: number; credential: string }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSessions = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  create(credential: string): { id: string; maxAgeSeconds: number } {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(digest(id).toString('hex'), { exp: this.now() + this.ttlMs, credential });
    while (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    return { id, maxAgeSeconds: Math.floor(this.ttlMs / 1000) };
  }

  /** The credential of a live session, or undefined. */
  credential(id: string | undefined): string | undefined {
    if (!id) return undefined;
    const k = digest(id).toString('hex');
    const s = this.sessions.get(k);
    if (s === undefined) return undefined;
    if (s.exp <= this.now()) {
      this.sessions.delete(k);
      return undefined;
    }
    return s.credential;
  }

  valid(id: string | undefined): boolean {
    return this.credential(id) !== undefined;
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
