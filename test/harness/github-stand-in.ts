/**
 * A local stand-in for github.com's OAuth app endpoints and the REST API's user and teams (no machine
 * here reaches GitHub), speaking their real shapes: `GET /login/oauth/authorize` (approves at once as
 * the person the test chose, with state and PKCE S256), `POST /login/oauth/access_token` (errors as
 * HTTP 200 with `error`, as GitHub does), and, under `/api/v3` as on GitHub Enterprise Server,
 * `GET /user` and `GET /user/teams` (paginated with a Link header; `maxPerPage` makes pages small so
 * tests see more than one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GithubPerson {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
  /** `org/team-slug` */
  teams: string[];
}

export interface GithubStandIn {
  /** AUTH_GITHUB_URL */
  url: string;
  /** AUTH_GITHUB_API_URL */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** Who approves the next authorization. */
  signedIn: GithubPerson | undefined;
  /** What the token endpoint was sent, for assertions. */
  exchanges: Array<Record<string, string>>;
  stop(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
};

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  if (String(req.headers['content-type']).includes('application/json')) return JSON.parse(text) as Record<string, string>;
  return Object.fromEntries(new URLSearchParams(text));
}

export async function startGithubStandIn(o: { maxPerPage?: number } = {}): Promise<GithubStandIn> {
  const clientId = 'Iv1.stacklytest01';
  const clientSecret = randomBytes(20).toString('hex');
  const codes = new Map<string, { person: GithubPerson; redirectUri: string; challenge: string }>();
  const tokens = new Map<string, GithubPerson>();
  const self: GithubStandIn = {
    url: '', apiUrl: '', clientId, clientSecret, signedIn: undefined, exchanges: [],
    stop: async () => undefined,
  };
  const badCode = { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code' };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, self.url);
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        const q = url.searchParams;
        if (q.get('client_id') !== clientId) return json(res, 404, { message: 'Not Found' });
        const person = self.signedIn;
        if (!person) return json(res, 500, { message: 'stand-in: nobody is signed in' });
        const redirectUri = q.get('redirect_uri')!;
        const code = randomBytes(10).toString('hex');
        codes.set(code, { person, redirectUri, challenge: q.get('code_challenge') ?? '' });
        const back = new URL(redirectUri);
        back.searchParams.set('code', code);
        if (q.get('state')) back.searchParams.set('state', q.get('state')!);
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const body = await readBody(req);
        self.exchanges.push(body);
        const asJson = String(req.headers.accept).includes('application/json');
        const answer = (b: Record<string, string>) => (asJson ? json(res, 200, b) : (res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }), res.end(new URLSearchParams(b).toString())));
        if (body.client_id !== clientId || body.client_secret !== clientSecret) {
          return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
        }
        const c = codes.get(body.code ?? '');
        codes.delete(body.code ?? '');
        if (!c) return answer(badCode);
        if (body.redirect_uri && body.redirect_uri !== c.redirectUri) return answer({ error: 'redirect_uri_mismatch', error_description: 'The redirect_uri MUST match the registered callback URL for this application.' });
        const verifierHash = createHash('sha256').update(body.code_verifier ?? '').digest('base64url');
        if (c.challenge && verifierHash !== c.challenge) return answer(badCode);
        const token = `gho_${randomBytes(18).toString('base64url')}`;
        tokens.set(token, c.person);
        return answer({ access_token: token, token_type: 'bearer', scope: 'read:org,read:user,user:email' });
      }
      if (req.method === 'GET' && url.pathname.startsWith('/api/v3/')) {
        const auth = /^(?:bearer|token)\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
        const person = auth ? tokens.get(auth) : undefined;
        const path = url.pathname.slice('/api/v3'.length);
        if (!person) return json(res, 401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user', status: '401' });
        if (path === '/user') {
          return json(res, 200, {
            login: person.login, id: person.id, node_id: `MDQ6VXNlcj${person.id}`, avatar_url: `https://avatars.githubusercontent.com/u/${person.id}?v=4`,
            gravatar_id: '', url: `https://api.github.com/users/${person.login}`, html_url: `https://github.com/${person.login}`,
            type: 'User', user_view_type: 'public', site_admin: false, name: person.name, company: null, blog: '', location: null,
            email: person.email, hireable: null, bio: null, twitter_username: null, public_repos: 3, public_gists: 0,
            followers: 1, following: 0, created_at: '2015-01-01T00:00:00Z', updated_at: '2026-11-01T00:00:00Z',
          });
        }
        if (path === '/user/teams') {
          const per = Math.min(Number(url.searchParams.get('per_page') ?? 30), o.maxPerPage ?? 100);
          const page = Number(url.searchParams.get('page') ?? 1);
          const all = person.teams.map((t, i) => {
            const [org, slug] = t.split('/') as [string, string];
            return {
              id: 1000 + i, node_id: `T_kwDO${i}`, url: `https://api.github.com/teams/${1000 + i}`, html_url: `https://github.com/orgs/${org}/teams/${slug}`,
              name: slug, slug, description: null, privacy: 'closed', notification_setting: 'notifications_enabled', permission: 'pull',
              members_url: `https://api.github.com/organizations/1/team/${1000 + i}/members{/member}`, repositories_url: `https://api.github.com/organizations/1/team/${1000 + i}/repos`,
              parent: null, members_count: 3, repos_count: 1, created_at: '2020-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
              organization: { login: org, id: 77, node_id: 'MDEyOk9yZ2FuaXphdGlvbjc3', url: `https://api.github.com/orgs/${org}`, description: '', name: org, type: 'Organization' },
            };
          });
          const items = all.slice((page - 1) * per, page * per);
          const last = Math.max(1, Math.ceil(all.length / per));
          const link = (p: number) => { const u = new URL(url.href); u.searchParams.set('page', String(p)); u.searchParams.set('per_page', String(per)); return u.href; };
          const headers: Record<string, string> = {};
          if (page < last) headers.link = `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"`;
          return json(res, 200, items, headers);
        }
      }
      return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    })().catch((e: unknown) => json(res, 500, { message: String(e) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.apiUrl = `${self.url}/api/v3`;
  self.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return self;
}
