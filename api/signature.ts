/**
 * GitHub's `X-Hub-Signature-256` check, done by @octokit/webhooks (not a hand-rolled HMAC). The
 * package is ESM-only; a dynamic import loads it from this CommonJS build (and under tsx).
 */
import type * as Webhooks from '@octokit/webhooks';

type WebhooksModule = typeof Webhooks;

let loaded: Promise<WebhooksModule> | undefined;
const load = (): Promise<WebhooksModule> => (loaded ??= import('@octokit/webhooks'));

export type SignatureVerifier = (secret: string, payload: string, signature: string) => Promise<boolean>;

/** Loads the library once; the returned function verifies against any secret. */
export async function createSignatureVerifier(): Promise<SignatureVerifier> {
  const { Webhooks } = await load();
  const bySecret = new Map<string, InstanceType<WebhooksModule['Webhooks']>>();
  return async (secret, payload, signature) => {
    let w = bySecret.get(secret);
    if (!w) {
      w = new Webhooks({ secret });
      if (bySecret.size > 1000) bySecret.clear();
      bySecret.set(secret, w);
    }
    try {
      return await w.verify(payload, signature);
    } catch {
      return false;
    }
  };
}

/** Signs a payload as GitHub does (for tests, the bench and tooling). */
export async function signPayload(secret: string, payload: string): Promise<string> {
  const { Webhooks } = await load();
  return new Webhooks({ secret }).sign(payload);
}
