/**
 * A local stand-in for GitHub's REST API as Stackly's GitHub feedback uses it (no machine here reaches
 * GitHub), speaking its real shapes and status codes:
 *
 * - `POST /app/installations/{id}/access_tokens` (a GitHub App's JWT, RS256, verified with the App's
 *   public key: `iss` the App id, `exp` at most 10 minutes ahead) → an installation token;
 * - `POST /repos/{o}/{r}/statuses/{sha}`, `GET /repos/{o}/{r}/commits/{sha}/statuses`;
 * - `POST /repos/{o}/{r}/check-runs`, `PATCH /repos/{o}/{r}/check-runs/{id}`;
 * - `GET|POST /repos/{o}/{r}/issues/{n}/comments` (Link pagination), `PATCH|DELETE /repos/{o}/{r}/issues/comments/{id}`.
 *
 * Every request is recorded (method, path, body, the token it carried); `failWith(500, n)` answers the
 * next n API requests (or all, with Infinity) with that status, as GitHub does when it is down.
 * Requests without a known token get 401; repositories other than the ones made here 404.
 */
import { createPublicKey, createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  /** The token the request carried (installation token, personal token, or `jwt`). */
  auth: string | undefined;
  status: number;
}

export interface StandInStatus { id: number; sha: string; state: string; context: string; description: string | null; target_url: string | null; created_at: string }
export interface StandInComment { id: number; issue: number; body: string; user: string; created_at: string; updated_at: string }
export interface StandInCheckRun { id: number; head_sha: string; name: string; status: string; conclusion: string | null; output: unknown }

export interface GithubApiStandIn {
  /** The API base URL (`github.api_url` of a repository's connection). */
  url: string;
  /** A token that may post to every repository made here. */
  token: string;
  /** The App whose installation may post (private key PEM for the connection). */
  app: { id: number; installationId: number; privateKeyPem: string };
  requests: RecordedRequest[];
  statuses: StandInStatus[];
  comments: StandInComment[];
  checkRuns: StandInCheckRun[];
  /** Answer the next `times` API requests with `status` (GitHub's error body); Infinity until `recover()`. */
  failWith(status: number, times?: number): void;
  recover(): void;
  /** Statuses of a commit's context, oldest first. */
  statusesOf(sha: string, context?: string): StandInStatus[];
  stop(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json', ...headers });
  res.end(JSON.stringify(body));
};

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) as Record<string, unknown> : undefined;
}

/** Verifies an App JWT (RS256) as GitHub does; returns the App id it names. */
function verifyAppJwt(jwt: string, key: KeyObject): number | undefined {
  const [h, p, sig] = jwt.split('.');
  if (!h || !p || !sig) return undefined;
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'RS256') return undefined;
  const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(sig, 'base64url'));
  if (!ok) return undefined;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss?: number | string; exp?: number; iat?: number };
  const now = Math.floor(Date.now() / 1000);
  if (!claims.exp || claims.exp < now || claims.exp > now + 660) return undefined;
  return Number(claims.iss);
}

export async function startGithubApiStandIn(o: { repositories: string[]; maxPerPage?: number }): Promise<GithubApiStandIn> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const app = { id: 424242, installationId: 777001, privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() };
  const appKey = createPublicKey(publicKey.export({ type: 'spki', format: 'pem' }));
  const token = `ghp_${randomBytes(18).toString('base64url')}`;
  const installationTokens = new Set<string>();
  const repos = new Set(o.repositories.map((r) => r.toLowerCase()));
  let failing: { status: number; left: number } | undefined;
  let nextId = 1000;
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  const self: GithubApiStandIn = {
    url: '', token, app, requests: [], statuses: [], comments: [], checkRuns: [],
    failWith(status, times = Infinity) { failing = { status, left: times }; },
    recover() { failing = undefined; },
    statusesOf(sha, context) { return self.statuses.filter((s) => s.sha === sha && (context === undefined || s.context === context)); },
    stop: async () => undefined,
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, self.url);
      const body = req.method === 'GET' ? undefined : await readJson(req);
      const authz = String(req.headers.authorization ?? '');
      const bearer = /^(?:bearer|token)\s+(\S+)$/i.exec(authz)?.[1];
      const rec: RecordedRequest = { method: req.method!, path: url.pathname, body, auth: bearer && bearer.split('.').length === 3 ? 'jwt' : bearer, status: 0 };
      self.requests.push(rec);
      const send = (status: number, b: unknown, headers: Record<string, string> = {}) => { rec.status = status; json(res, status, b, headers); };

      if (failing && failing.left > 0) {
        failing.left--;
        return send(failing.status, { message: failing.status >= 500 ? 'Server Error' : 'Error', documentation_url: 'https://docs.github.com/rest' });
      }
      // A GitHub App's installation token, for its JWT.
      const inst = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
      if (inst && req.method === 'POST') {
        const appId = bearer ? verifyAppJwt(bearer, appKey) : undefined;
        if (appId !== app.id) return send(401, { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest', status: '401' });
        if (Number(inst[1]) !== app.installationId) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app', status: '404' });
        const t = `ghs_${randomBytes(18).toString('base64url')}`;
        installationTokens.add(t);
        return send(201, {
          token: t, expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: { statuses: 'write', checks: 'write', pull_requests: 'write', issues: 'write', contents: 'read' }, repository_selection: 'selected',
        });
      }
      if (!bearer || !(bearer === token || installationTokens.has(bearer))) {
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      }
      const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(url.pathname);
      if (!m || !repos.has(`${m[1]}/${m[2]}`.toLowerCase())) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      const [, owner, name, rest] = m as unknown as [string, string, string, string];
      const apiRepo = `${self.url}/repos/${owner}/${name}`;
      let r: RegExpExecArray | null;
      if ((r = /^\/statuses\/([0-9a-f]{40})$/.exec(rest)) && req.method === 'POST') {
        const state = String(body?.state ?? '');
        if (!['error', 'failure', 'pending', 'success'].includes(state)) {
          return send(422, { message: 'Validation Failed', errors: [{ resource: 'Status', code: 'custom', field: 'state', message: 'state is not included in the list' }], documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status', status: '422' });
        }
        const description = body?.description === undefined ? null : String(body.description);
        if (description !== null && description.length > 140) {
          return send(422, { message: 'Validation Failed', errors: [{ resource: 'Status', code: 'custom', field: 'description', message: 'description is too long (maximum is 140 characters)' }], documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status', status: '422' });
        }
        const s: StandInStatus = {
          id: nextId++, sha: r[1]!, state, context: String(body?.context ?? 'default'), description,
          target_url: body?.target_url === undefined ? null : String(body.target_url), created_at: now(),
        };
        self.statuses.push(s);
        return send(201, {
          url: `${apiRepo}/statuses/${s.sha}`, avatar_url: 'https://avatars.githubusercontent.com/u/1?v=4', id: s.id, node_id: `SC_${s.id}`,
          state: s.state, description: s.description, target_url: s.target_url, context: s.context, created_at: s.created_at, updated_at: s.created_at,
          creator: { login: 'stackly[bot]', id: 1, type: 'Bot' },
        });
      }
      if ((r = /^\/commits\/([0-9a-f]{40})\/statuses$/.exec(rest)) && req.method === 'GET') {
        return send(200, self.statuses.filter((s) => s.sha === r![1]).reverse().map((s) => ({ id: s.id, state: s.state, context: s.context, description: s.description, target_url: s.target_url, created_at: s.created_at })));
      }
      if (rest === '/check-runs' && req.method === 'POST') {
        const c: StandInCheckRun = { id: nextId++, head_sha: String(body?.head_sha), name: String(body?.name), status: String(body?.status ?? 'queued'), conclusion: (body?.conclusion as string) ?? null, output: body?.output ?? null };
        self.checkRuns.push(c);
        return send(201, { id: c.id, head_sha: c.head_sha, name: c.name, status: c.status, conclusion: c.conclusion, url: `${apiRepo}/check-runs/${c.id}` });
      }
      if ((r = /^\/check-runs\/(\d+)$/.exec(rest)) && req.method === 'PATCH') {
        const c = self.checkRuns.find((x) => x.id === Number(r![1]));
        if (!c) return send(404, { message: 'Not Found', status: '404' });
        if (body?.conclusion && body.status !== undefined && body.status !== 'completed') return send(422, { message: 'Validation Failed', errors: [{ resource: 'CheckRun', code: 'invalid', field: 'conclusion' }], status: '422' });
        Object.assign(c, { ...(body?.status ? { status: body.status } : {}), ...(body?.conclusion ? { conclusion: body.conclusion, status: 'completed' } : {}), ...(body?.output ? { output: body.output } : {}) });
        return send(200, { id: c.id, head_sha: c.head_sha, name: c.name, status: c.status, conclusion: c.conclusion });
      }
      const commentView = (c: StandInComment) => ({
        url: `${apiRepo}/issues/comments/${c.id}`, html_url: `https://github.com/${owner}/${name}/pull/${c.issue}#issuecomment-${c.id}`,
        issue_url: `${apiRepo}/issues/${c.issue}`, id: c.id, node_id: `IC_${c.id}`, user: { login: c.user, id: 1, type: 'Bot' },
        created_at: c.created_at, updated_at: c.updated_at, author_association: 'NONE', body: c.body,
      });
      if ((r = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
        const issue = Number(r[1]);
        if (req.method === 'POST') {
          if (typeof body?.body !== 'string' || body.body.length > 65536) return send(422, { message: 'Validation Failed', errors: [{ resource: 'IssueComment', code: 'custom', field: 'body', message: 'body is too long (maximum is 65536 characters)' }], status: '422' });
          const c: StandInComment = { id: nextId++, issue, body: body.body, user: 'stackly[bot]', created_at: now(), updated_at: now() };
          self.comments.push(c);
          return send(201, commentView(c));
        }
        if (req.method === 'GET') {
          const per = Math.min(Number(url.searchParams.get('per_page') ?? 30), o.maxPerPage ?? 100);
          const page = Number(url.searchParams.get('page') ?? 1);
          const all = self.comments.filter((c) => c.issue === issue);
          const last = Math.max(1, Math.ceil(all.length / per));
          const link = (p: number) => { const u = new URL(url.href); u.searchParams.set('page', String(p)); u.searchParams.set('per_page', String(per)); return u.href; };
          return send(200, all.slice((page - 1) * per, page * per).map(commentView), page < last ? { link: `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"` } : {});
        }
      }
      if ((r = /^\/issues\/comments\/(\d+)$/.exec(rest))) {
        const c = self.comments.find((x) => x.id === Number(r![1]));
        if (!c) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/issues/comments#update-an-issue-comment', status: '404' });
        if (req.method === 'PATCH') {
          c.body = String(body?.body ?? '');
          c.updated_at = now();
          return send(200, commentView(c));
        }
        if (req.method === 'DELETE') {
          self.comments.splice(self.comments.indexOf(c), 1);
          rec.status = 204;
          res.writeHead(204);
          return res.end();
        }
      }
      return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    })().catch((e: unknown) => json(res, 500, { message: String(e) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return self;
}
