/**
 * Identity providers: where `GET /auth/login` sends the browser, and what `GET /auth/callback` learns
 * from the provider's answer (who, and their groups). Both run the authorization-code flow with
 * state and PKCE (S256) through `openid-client`:
 * - OpenID Connect (Dex, Keycloak, Okta, Google, …): discovery from the issuer (lazily, and again after
 *   a failure, so the api starts while the provider is down), the ID token's nonce checked, the
 *   groups from the configured claim of the ID token or, when it is not there, of userinfo;
 * - GitHub (plain OAuth 2, no ID token): the code exchanged at `<github>/login/oauth/access_token`, then
 *   `GET /user` and `GET /user/teams` of the REST API: groups are `org/team-slug`.
 * An http:// URL is accepted only because the operator configured it (a provider on the same machine).
 */
import * as oidc from 'openid-client';

export type ProviderName = 'oidc' | 'github';
export const PROVIDER_NAMES: readonly ProviderName[] = ['oidc', 'github'];

/** A person as the identity provider vouches for them. */
export interface Identity {
  provider: ProviderName;
  /** The provider's stable id (OIDC `sub`, GitHub user id). */
  subject: string;
  login: string;
  email: string | null;
  name: string | null;
  groups: string[];
}

export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  codeChallenge: string;
  nonce: string | null;
}

export interface CallbackCheck {
  /** The callback URL as the provider redirected to it (our redirect URI plus its query). */
  callbackUrl: URL;
  redirectUri: string;
  state: string;
  codeVerifier: string;
  nonce: string | null;
}

export interface SignInProvider {
  name: ProviderName;
  /** Whether the flow carries an OIDC nonce. */
  usesNonce: boolean;
  authorizationUrl(r: AuthorizationRequest): Promise<URL>;
  /** Exchanges the code and reads who signed in; throws when the provider refuses. */
  finish(c: CallbackCheck): Promise<Identity>;
}

const insecureIfHttp = (u: string) => (new URL(u).protocol === 'http:' ? [oidc.allowInsecureRequests] : []);

/** Strings of a groups claim: an array of strings (others ignored), or one string. */
export function groupsFromClaim(v: unknown): string[] {
  if (typeof v === 'string') return v ? [v] : [];
  if (!Array.isArray(v)) return [];
  return [...new Set(v.filter((g): g is string => typeof g === 'string' && g !== ''))].sort();
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function oidcProvider(o: {
  issuer: string; clientId: string; clientSecret: string; scopes: string; groupsClaim: string;
}): SignInProvider {
  let discovered: Promise<oidc.Configuration> | undefined;
  const config = () => (discovered ??= oidc.discovery(new URL(o.issuer), o.clientId, o.clientSecret, undefined, { execute: insecureIfHttp(o.issuer) })
    .catch((e: unknown) => {
      discovered = undefined;
      throw new Error(`discovering the OpenID provider ${o.issuer}: ${(e as Error).message}`);
    }));
  return {
    name: 'oidc',
    usesNonce: true,
    async authorizationUrl(r) {
      return oidc.buildAuthorizationUrl(await config(), {
        redirect_uri: r.redirectUri, scope: o.scopes, state: r.state, code_challenge: r.codeChallenge, code_challenge_method: 'S256',
        ...(r.nonce ? { nonce: r.nonce } : {}),
      });
    },
    async finish(c) {
      const cfg = await config();
      const tokens = await oidc.authorizationCodeGrant(cfg, c.callbackUrl, {
        pkceCodeVerifier: c.codeVerifier, expectedState: c.state, idTokenExpected: true, ...(c.nonce ? { expectedNonce: c.nonce } : {}),
      }, { redirect_uri: c.redirectUri });
      const idClaims = tokens.claims();
      if (!idClaims) throw new Error('the provider answered without an ID token');
      let claims: Record<string, unknown> = { ...idClaims };
      // Many providers put profile claims and groups only in userinfo when an access token is issued.
      if (cfg.serverMetadata().userinfo_endpoint && (claims[o.groupsClaim] === undefined || !claims.preferred_username)) {
        const info = await oidc.fetchUserInfo(cfg, tokens.access_token, idClaims.sub);
        claims = { ...info, ...claims, [o.groupsClaim]: claims[o.groupsClaim] ?? info[o.groupsClaim] };
      }
      const login = str(claims.preferred_username) ?? str(claims.email) ?? idClaims.sub;
      return {
        provider: 'oidc', subject: idClaims.sub, login, email: str(claims.email), name: str(claims.name),
        groups: groupsFromClaim(claims[o.groupsClaim]),
      };
    },
  };
}

interface GithubUser { id: number; login: string; name?: string | null; email?: string | null }
interface GithubTeam { slug: string; organization: { login: string } }

export function githubProvider(o: { url: string; apiUrl: string; clientId: string; clientSecret: string; fetchFn?: typeof fetch }): SignInProvider {
  const base = o.url.replace(/\/+$/, '');
  const api = o.apiUrl.replace(/\/+$/, '');
  const fetchFn = o.fetchFn ?? fetch;
  const cfg = new oidc.Configuration(
    { issuer: base, authorization_endpoint: `${base}/login/oauth/authorize`, token_endpoint: `${base}/login/oauth/access_token` },
    o.clientId, o.clientSecret, oidc.ClientSecretPost(o.clientSecret),
  );
  if (insecureIfHttp(base).length) oidc.allowInsecureRequests(cfg);

  const get = async <T>(path: string, token: string): Promise<{ body: T; next: string | null }> => {
    const res = await fetchFn(path.startsWith('http') ? path : `${api}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'stackly' },
      signal: AbortSignal.timeout(15_000),
    });
    if (!res.ok) throw new Error(`GitHub answered ${res.status} to GET ${path.replace(/\?.*/, '')}`);
    const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    return { body: await res.json() as T, next };
  };

  return {
    name: 'github',
    usesNonce: false,
    async authorizationUrl(r) {
      // read:org lets GET /user/teams see the teams of organizations that restrict OAuth apps.
      return oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: r.redirectUri, scope: 'read:user user:email read:org', state: r.state,
        code_challenge: r.codeChallenge, code_challenge_method: 'S256', allow_signup: 'false',
      });
    },
    async finish(c) {
      const tokens = await oidc.authorizationCodeGrant(cfg, c.callbackUrl, { pkceCodeVerifier: c.codeVerifier, expectedState: c.state }, { redirect_uri: c.redirectUri });
      const { body: user } = await get<GithubUser>('/user', tokens.access_token);
      if (typeof user?.id !== 'number' || typeof user.login !== 'string') throw new Error('GitHub\'s GET /user answered without id and login');
      const groups: string[] = [];
      let next: string | null = '/user/teams?per_page=100';
      for (let page = 0; next && page < 20; page++) {
        const r: { body: GithubTeam[]; next: string | null } = await get<GithubTeam[]>(next, tokens.access_token);
        for (const t of Array.isArray(r.body) ? r.body : []) {
          if (typeof t?.slug === 'string' && typeof t.organization?.login === 'string') groups.push(`${t.organization.login}/${t.slug}`);
        }
        next = r.next;
      }
      return {
        provider: 'github', subject: String(user.id), login: user.login, email: str(user.email), name: str(user.name),
        groups: groupsFromClaim(groups),
      };
    },
  };
}
