/**
 * A real OpenID Provider for sign-in tests: `oidc-provider` (a certified implementation) in this
 * process on a free port, with its development login and consent pages (any login name whose account
 * the test declared is accepted), a `groups` scope and claim, and one confidential client whose
 * redirect URI is given once the api it serves is listening. The test changes a person's groups with
 * `people.set`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OidcPerson {
  name?: string;
  email?: string;
  groups: string[];
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** login name → person; the login name is their `sub` and `preferred_username`. */
  people: Map<string, OidcPerson>;
  /** Registers the client with this redirect URI and starts answering. */
  serve(redirectUri: string): Promise<void>;
  stop(): Promise<void>;
}

/** What the test uses of oidc-provider (the package ships no type declarations). */
interface ProviderInstance { callback(): (req: IncomingMessage, res: ServerResponse) => void }
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

export async function startOidcProvider(): Promise<TestOidcProvider> {
  const server: Server = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('not ready');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const people = new Map<string, OidcPerson>();
  const clientId = 'stackly-test';
  const clientSecret = 'stackly-test-client-secret-0123456789';
  return {
    issuer, clientId, clientSecret, people,
    async serve(redirectUri) {
      // ESM-only package; require() of ESM works on Node 20.19+ (it warns that it wants Node 22).
      const { default: Provider } = require('oidc-provider') as { default: ProviderClass };
      const provider = new Provider(issuer, {
        clients: [{
          client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
          response_types: ['code'], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic',
        }],
        scopes: ['openid', 'profile', 'email', 'groups'],
        claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
        findAccount: async (_ctx: unknown, sub: string) => {
          const p = people.get(sub);
          if (!p) return undefined;
          return {
            accountId: sub,
            claims: async () => ({
              sub, preferred_username: sub, ...(p.name ? { name: p.name } : {}),
              ...(p.email ? { email: p.email, email_verified: true } : {}), groups: [...p.groups],
            }),
          };
        },
        cookies: { keys: ['stackly-test-cookie-key-0123456789'] },
        pkce: { required: () => true },
        ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
        features: { devInteractions: { enabled: true } },
      });
      server.removeAllListeners('request');
      server.on('request', provider.callback());
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
