/**
 * API keys: `stk_<prefix>_<secret>`. The prefix (public, unique) finds the key and names it in lists;
 * the secret (256 random bits) is stored only as its SHA-256 (a slow hash adds nothing for a random
 * secret of that size). A key is shown once, when it is made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY = /^stk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  /** The whole key, shown once. */
  key: string;
  prefix: string;
  hash: string;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function generateApiKey(): NewApiKey {
  const prefix = randomBytes(8).toString('hex').slice(0, 10);
  const secret = randomBytes(32).toString('base64url');
  return { key: `stk_${prefix}_${secret}`, prefix, hash: hashSecret(secret) };
}

/** The parts of a string shaped like an API key, or undefined. */
export function parseApiKey(token: string): { prefix: string; secret: string } | undefined {
  const m = KEY.exec(token);
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
