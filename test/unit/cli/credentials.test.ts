/** The CLI's stored sign-in: file mode, renewal when expiring or refused, a refused refresh forgets it, one renewal at a time. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../../cli/api-client';
import { credentialsPath, saveSession, sessionFor, SessionTokens, type StoredSession } from '../../../cli/credentials';

const URL_ = 'http://api.test';
const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('cli credentials', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackly-cred-'));
    file = credentialsPath(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const stored = (o: Partial<StoredSession> = {}): StoredSession => ({
    login: 'al', access_token: 'at-1', access_expires_at: soon(600_000), refresh_token: 'rt-1', refresh_expires_at: soon(86_400_000), ...o,
  });
  /** A token endpoint that counts its calls and answers a new pair each time (or `status`). */
  function tokenEndpoint(status = 200) {
    let n = 1;
    const seen: string[] = [];
    const fn = (async (_url: string | URL | Request, init?: RequestInit) => {
      await new Promise((r) => setTimeout(r, 20));
      seen.push((JSON.parse(String(init!.body)) as { refresh_token: string }).refresh_token);
      n++;
      return new Response(JSON.stringify(status === 200 ? { access_token: `at-${n}`, expires_in: 900, refresh_token: `rt-${n}`, refresh_expires_at: soon(86_400_000) } : { error: { code: 'invalid_refresh_token', message: 'x' } }), { status });
    }) as typeof fetch;
    return { fn, seen };
  }

  it('is kept 0600 under $XDG_CONFIG_HOME/stackly, one entry per API URL', () => {
    saveSession(file, URL_, stored());
    saveSession(file, 'http://other', stored({ login: 'bo' }));
    assert.equal(file, join(dir, 'stackly', 'credentials.json'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'stackly')).mode & 0o777, 0o700);
    assert.equal(sessionFor(file, URL_)!.login, 'al');
    saveSession(file, URL_, undefined);
    assert.equal(sessionFor(file, URL_), undefined);
    assert.equal(sessionFor(file, 'http://other')!.login, 'bo');
  });

  it('uses a fresh access token as is; renews one about to expire, once even when two ask at the same time', async () => {
    saveSession(file, URL_, stored());
    const ep = tokenEndpoint();
    const s = new SessionTokens(file, URL_, ep.fn);
    assert.equal(await s.accessToken(), 'at-1');
    assert.equal(ep.seen.length, 0);
    saveSession(file, URL_, stored({ access_expires_at: soon(10_000) }));
    const [a, b] = await Promise.all([s.accessToken(), new SessionTokens(file, URL_, ep.fn).accessToken()]);
    assert.deepEqual([a, b], ['at-2', 'at-2']);
    assert.deepEqual(ep.seen, ['rt-1'], 'the refresh token was presented once');
    assert.equal(sessionFor(file, URL_)!.refresh_token, 'rt-2');
  });

  it('a refused refresh forgets the sign-in and says to log in again; the API client renews once on a 401', async () => {
    saveSession(file, URL_, stored({ access_expires_at: soon(-1000) }));
    await assert.rejects(new SessionTokens(file, URL_, tokenEndpoint(401).fn).accessToken(), /no longer valid \(expired or revoked\): run stackly login/);
    assert.equal(sessionFor(file, URL_), undefined);

    saveSession(file, URL_, stored());
    const ep = tokenEndpoint();
    const calls: string[] = [];
    const api = (async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url).endsWith('/auth/token')) return ep.fn(url, init);
      const auth = (init!.headers as Record<string, string>).authorization!;
      calls.push(auth);
      return auth === 'Bearer at-1'
        ? new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'invalid or expired access token' } }), { status: 401 })
        : new Response(JSON.stringify({ name: 'al' }), { status: 200 });
    }) as typeof fetch;
    const client = new ApiClient({ url: URL_, token: '', session: new SessionTokens(file, URL_, api), account: 'acme' }, api);
    assert.deepEqual(await client.request('x', 'GET', '/api/me'), { name: 'al' });
    assert.deepEqual(calls, ['Bearer at-1', 'Bearer at-2']);
  });
});
