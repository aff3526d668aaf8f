/** REST auth: `Authorization: Bearer <token>` against API_TOKENS (`name:token` pairs; the name is the user). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors';

export interface TokenAuth {
  /** The user name for a valid request; throws 401 otherwise. */
  authenticate(req: FastifyRequest): string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createTokenAuth(pairs: readonly string[]): TokenAuth {
  const tokens = pairs.map((p) => {
    const i = p.indexOf(':');
    if (i <= 0 || i === p.length - 1) throw new Error('API_TOKENS entries must be name:token');
    return { name: p.slice(0, i), digest: digest(p.slice(i + 1)) };
  });
  return {
    authenticate(req) {
      const h = req.headers.authorization;
      const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
      if (!m) throw new ApiError(401, 'unauthorized', 'missing bearer token');
      const d = digest(m[1]!);
      // Compare against every token (no early exit), constant time per comparison.
      let user: string | undefined;
      for (const t of tokens) if (timingSafeEqual(t.digest, d)) user ??= t.name;
      if (!user) throw new ApiError(401, 'unauthorized', 'invalid bearer token');
      return user;
    },
  };
}
