/**
 * The api's access-token signing keys (`AUTH_SIGNING_KEYS`): a JWKS of private keys (Ed25519 `OKP`
 * with alg EdDSA, or P-256 `EC` with alg ES256), each with its own `kid`. The first key signs; every
 * key verifies, so a key is rotated by putting a new one first and dropping the old one once the
 * tokens it signed have expired (15 minutes). Here: the shape check of the config loader, and making a
 * key (scripts/dev keeps one in .stackly/ when the variable is unset).
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { z } from 'zod';

export const SIGNING_ALGS = ['EdDSA', 'ES256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'base64url');
const okp = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), alg: z.literal('EdDSA'), kid: z.string().min(1), x: b64url, d: b64url });
const ec = z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), alg: z.literal('ES256'), kid: z.string().min(1), x: b64url, y: b64url, d: b64url });

/** A private signing JWK as the config holds it (`use`, `key_ops` and the like are allowed and ignored). */
export type SigningJwk = z.output<typeof okp> | z.output<typeof ec>;

/** `AUTH_SIGNING_KEYS`: JSON `{"keys":[…]}`, at least one private key, kids unique. */
export const signingKeysSchema = z.string().transform((s, ctx) => {
  let json: unknown;
  try {
    json = JSON.parse(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not JSON (expected a JWKS: {"keys":[…]})' });
    return z.NEVER;
  }
  const r = z.object({ keys: z.array(z.union([okp, ec])).min(1) }).safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    // Never echo the value: it holds private keys.
    ctx.addIssue({ code: 'custom', message: `expected a JWKS of private EdDSA (Ed25519) or ES256 (P-256) keys with kid and alg${i.path.length ? ` (at ${i.path.join('.')})` : ''}` });
    return z.NEVER;
  }
  const kids = r.data.keys.map((k) => k.kid);
  if (new Set(kids).size !== kids.length) {
    ctx.addIssue({ code: 'custom', message: 'two keys have the same kid' });
    return z.NEVER;
  }
  return Object.freeze(r.data.keys) as readonly SigningJwk[];
});

/** A new private signing key as a JWK with a random kid. */
export async function generateSigningKey(alg: SigningAlg = 'EdDSA'): Promise<SigningJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk: JWK = await exportJWK(privateKey);
  return { ...jwk, alg, kid: `${new Date().toISOString().slice(0, 10)}-${randomBytes(6).toString('hex')}` } as SigningJwk;
}

/** The JWKS text of `AUTH_SIGNING_KEYS`. */
export const signingKeysJson = (keys: readonly SigningJwk[]): string => JSON.stringify({ keys });
