/**
 * Access tokens of signed-in users: JWTs (RFC 9068 `at+jwt`) signed by the first key of
 * AUTH_SIGNING_KEYS (common/signing-keys.ts), verified by any of them (rotation by `kid`), with
 * iss "stackly", aud "stackly-api", sub = users.id, and a short lifetime (15 min by default). They
 * carry no role or group: those are read from Postgres on every request (principal.ts), so a
 * removed member loses access at once, not when the token expires.
 */
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import { SIGNING_ALGS, type SigningJwk } from '../../common/signing-keys';
import type { AccessTokenVerifier } from './principal';

export const TOKEN_ISSUER = 'stackly';
export const TOKEN_AUDIENCE = 'stackly-api';
export const TOKEN_TYPE = 'at+jwt';

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

export interface AccessTokens extends AccessTokenVerifier {
  issue(userId: string): Promise<AccessToken>;
  readonly ttlSeconds: number;
}

/** The public half of a private JWK (what verifies). */
function publicJwk(k: SigningJwk): JWK {
  const { d: _d, ...pub } = k;
  return pub;
}

export async function createAccessTokens(o: { keys: readonly SigningJwk[]; ttlSeconds: number }): Promise<AccessTokens> {
  const signer = o.keys[0];
  if (!signer) throw new Error('AUTH_SIGNING_KEYS has no key');
  const signingKey = (await importJWK(signer, signer.alg)) as CryptoKey;
  const jwks = createLocalJWKSet({ keys: o.keys.map(publicJwk) });
  return {
    ttlSeconds: o.ttlSeconds,
    async issue(userId) {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + o.ttlSeconds;
      const token = await new SignJWT({ client_id: 'stackly' })
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: TOKEN_TYPE })
        .setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setSubject(userId)
        .setIssuedAt(now).setExpirationTime(exp).setJti(randomUUID())
        .sign(signingKey);
      return { token, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, typ: TOKEN_TYPE, algorithms: [...SIGNING_ALGS],
          requiredClaims: ['sub', 'exp', 'iat'], clockTolerance: 5,
        });
        return typeof payload.sub === 'string' && /^[0-9a-f-]{36}$/i.test(payload.sub) ? { userId: payload.sub } : undefined;
      } catch {
        // Bad signature, unknown kid, expired, wrong audience or issuer, not a JWT: all the same 401.
        return undefined;
      }
    },
  };
}
