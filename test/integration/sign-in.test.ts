/**
 * Signing in (issue 19) end to end, through the real api process: a real OpenID Provider
 * (`oidc-provider`, its login and consent pages driven by plain HTTP) and a local stand-in for
 * github.com's OAuth and user/teams endpoints. Sign-in gives tokens whose /api/me groups are the
 * provider's and whose memberships follow AUTH_ROLE_MAPPINGS; refresh tokens rotate, a reused one is
 * refused and revokes the sign-in; a tampered, expired, foreign or wrong-audience JWT is 401; a
 * replayed, unknown or missing state is 400. Sign-in needs neither Temporal nor Vault: the api's lazy
 * clients of those point nowhere here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, importJWK } from 'jose';
import { generateSigningKey, signingKeysJson, type SigningJwk } from '../../common/signing-keys';
import { ensureAccount } from '../../db/repos/accounts';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { TestBrowser } from '../harness/browser';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal } from '../harness/principals';
import { startGithubStandIn, type GithubStandIn } from '../harness/github-stand-in';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider';

interface Tokens { access_token: string; refresh_token: string; expires_in: number; token_type: string; refresh_expires_at: string; user: { id: string; login: string; groups: string[] } }
interface Me { name: string; kind: string; user: { id: string; login: string; provider: string }; account: { name: string; role: string }; accounts: Array<{ name: string; role: string }>; groups: string[] }

describe('sign-in: OpenID Connect and GitHub, through the api process', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let idp: TestOidcProvider;
  let gh: GithubStandIn;
  let api: ApiProcess;
  let key: SigningJwk;
  let old: SigningJwk;
  let apiLog = '';

  const url = (p: string) => `${api.url}${p}`;
  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url(p), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const me = (token: string, account?: string) =>
    fetch(url('/api/me'), { headers: { authorization: `Bearer ${token}`, ...(account ? { 'x-stackly-account': account } : {}) } });
  const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;

  /** The whole browser sign-in; the callback is asked for JSON. */
  async function oidcSignIn(login: string): Promise<{ tokens: Tokens; callback: string }> {
    const b = new TestBrowser();
    const { url: callback, res } = await b.signIn(url('/auth/login?provider=oidc'), { login, stopAt: url('/auth/callback') });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return { tokens: (await res.json()) as Tokens, callback };
  }

  before(async () => {
    tdb = await createTestDb('sign_in');
    await ensureAccount(tdb.db, 'beta', 'stackly-beta');
    idp = await startOidcProvider();
    gh = await startGithubStandIn({ maxPerPage: 2 });
    key = await generateSigningKey();
    old = await generateSigningKey('ES256');
    api = await startApiProcess(apiProcessEnv({
      db: tdb, webhookSecret: 'sign-in-webhook-secret-0123456789',
      // Never reached by sign-in: the api's Temporal and Vault clients are lazy.
      temporal: { address: '127.0.0.1:1', namespace: 'stackly' }, vault: { addr: 'http://127.0.0.1:1', token: 'unused' },
      extra: {
        AUTH_SIGNING_KEYS: signingKeysJson([key, old]),
        AUTH_OIDC_ISSUER: idp.issuer, AUTH_OIDC_CLIENT_ID: idp.clientId, AUTH_OIDC_CLIENT_SECRET: idp.clientSecret,
        AUTH_OIDC_SCOPES: 'openid profile email groups',
        AUTH_GITHUB_CLIENT_ID: gh.clientId, AUTH_GITHUB_CLIENT_SECRET: gh.clientSecret, AUTH_GITHUB_URL: gh.url, AUTH_GITHUB_API_URL: gh.apiUrl,
        AUTH_ROLE_MAPPINGS: JSON.stringify([
          { group: 'platform', account: 'default', role: 'admin' },
          { group: 'platform', account: 'beta', role: 'viewer' },
          { group: 'sre', account: 'default', role: 'operator' },
          { group: 'acme/platform', account: 'default', role: 'approver', provider: 'github' },
          // Only GitHub's teams map through this one: an OIDC group of the same name does not.
          { group: 'acme/admins', account: 'default', role: 'admin', provider: 'github' },
          { group: 'ghost', account: 'no-such-account', role: 'admin' },
        ]),
        AUTH_DEFAULT_ROLE: 'viewer',
      },
    }));
    api.child.stdout!.on('data', (c: Buffer) => { apiLog += c.toString(); });
    await idp.serve(url('/auth/callback'));
    idp.people.set('alice', { name: 'Alice A', email: 'alice@example.com', groups: ['platform', 'sre', 'ghost'] });
    idp.people.set('bob', { email: 'bob@example.com', groups: ['sre', 'acme/admins'] });
  });

  afterEach(function () {
    // A failed test shows what the api logged about sign-ins.
    if (this.currentTest?.state === 'failed') process.stderr.write(apiLog.split('\n').filter((l) => /sign-in|signed in|refresh/.test(l)).join('\n') + '\n');
  });

  after(async () => {
    await api?.stop();
    await idp?.stop();
    await gh?.stop();
    await tdb?.drop();
  });

  it('OIDC: sign-in gives a token whose /api/me shows the provider\'s groups and the mapped roles, and only the user\'s accounts', async () => {
    const { tokens } = await oidcSignIn('alice');
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 900);
    assert.match(tokens.refresh_token, /^srt_/);
    assert.deepEqual(tokens.user.groups, ['ghost', 'platform', 'sre']);
    // Two accounts: say which.
    const which = await me(tokens.access_token);
    assert.equal(which.status, 400);
    assert.match((await errorOf(which)).message, /several accounts \(beta, default\).*X-Stackly-Account/);
    const r = await me(tokens.access_token, 'default');
    assert.equal(r.status, 200);
    const body = (await r.json()) as Me;
    assert.equal(body.kind, 'user');
    assert.deepEqual([body.user.login, body.user.provider], ['alice', 'oidc']);
    assert.deepEqual(body.groups, ['ghost', 'platform', 'sre'], 'the groups the provider gave');
    assert.deepEqual(body.account, { ...body.account, name: 'default', role: 'admin' }, 'platform → admin wins over sre → operator');
    assert.deepEqual(body.accounts.map((a) => [a.name, a.role]), [['beta', 'viewer'], ['default', 'admin']], 'only her accounts (no-such-account skipped)');
    const inBeta = (await (await me(tokens.access_token, 'beta')).json()) as Me;
    assert.equal(inBeta.account.role, 'viewer');
    const user = await tdb.db.selectFrom('users').selectAll().where('id', '=', body.user.id).executeTakeFirstOrThrow();
    assert.deepEqual([user.provider, user.subject, user.email, user.name], ['oidc', 'alice', 'alice@example.com', 'Alice A']);
  });

  it('OIDC: groups and mapped roles follow the provider at each sign-in; an admin\'s own membership stays', async () => {
    const first = await oidcSignIn('bob');
    const m1 = (await (await me(first.tokens.access_token)).json()) as Me;
    assert.deepEqual([m1.account.role, m1.groups], ['operator', ['acme/admins', 'sre']], 'a github-only mapping does not apply to an OIDC group');
    // Bob leaves sre: the role it gave goes at his next sign-in; the default role is what is left.
    idp.people.set('bob', { email: 'bob@example.com', groups: [] });
    const second = await oidcSignIn('bob');
    const m2 = (await (await me(second.tokens.access_token)).json()) as Me;
    assert.deepEqual([m2.account.role, m2.groups], ['viewer', []]);
    // An admin's decision (source admin) is not changed by a sign-in.
    const beta = await tdb.db.selectFrom('accounts').select('id').where('name', '=', 'beta').executeTakeFirstOrThrow();
    await tdb.db.insertInto('memberships').values({ account_id: beta.id, user_id: m2.user.id, role: 'approver', source: 'admin' }).execute();
    const third = await oidcSignIn('bob');
    const m3 = (await (await me(third.tokens.access_token, 'beta')).json()) as Me;
    assert.equal(m3.account.role, 'approver');
  });

  it('the api\'s log names sign-ins but never carries the provider\'s code or the tokens', async () => {
    const { tokens, callback } = await oidcSignIn('alice');
    const code = new URL(callback).searchParams.get('code')!;
    await post('/auth/token', { refresh_token: tokens.refresh_token });
    await new Promise((r) => setTimeout(r, 200));
    assert.match(apiLog, /"msg":"signed in"/);
    for (const secret of [code, tokens.access_token, tokens.refresh_token, tokens.refresh_token.slice(4)]) assert.ok(!apiLog.includes(secret), 'not in the log');
  });

  it('refresh tokens rotate; a reused one is refused and revokes the sign-in; logout revokes', async () => {
    const { tokens } = await oidcSignIn('alice');
    const r1 = await post('/auth/token', { refresh_token: tokens.refresh_token });
    assert.equal(r1.status, 200);
    const t1 = (await r1.json()) as Tokens;
    assert.notEqual(t1.refresh_token, tokens.refresh_token, 'a new refresh token');
    assert.equal(t1.refresh_expires_at, tokens.refresh_expires_at, 'the sign-in ends when it ended');
    assert.equal((await me(t1.access_token, 'default')).status, 200);
    const t2 = (await (await post('/auth/token', { refresh_token: t1.refresh_token })).json()) as Tokens;
    // The first one again: refused, and the live one (t2's) dies with it.
    const reused = await post('/auth/token', { refresh_token: tokens.refresh_token });
    assert.equal(reused.status, 401);
    assert.match((await errorOf(reused)).message, /already used once; this sign-in is now revoked/);
    const after = await post('/auth/token', { refresh_token: t2.refresh_token });
    assert.equal(after.status, 401);
    assert.match((await errorOf(after)).message, /revoked/);
    const rows = await tdb.db.selectFrom('refresh_tokens').selectAll().execute();
    assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash)), 'only hashes are stored');
    assert.ok(!JSON.stringify(rows).includes(tokens.refresh_token.slice(4)), 'never the token itself');

    const fresh = (await oidcSignIn('alice')).tokens;
    const out = await post('/auth/logout', { refresh_token: fresh.refresh_token });
    assert.equal(out.status, 204);
    assert.equal((await post('/auth/token', { refresh_token: fresh.refresh_token })).status, 401);
    assert.equal((await post('/auth/token', { refresh_token: 'nope' })).status, 401);
    const missing = await post('/auth/token', {});
    assert.equal(missing.status, 400);
    assert.match((await errorOf(missing)).message, /refresh_token/);
  });

  it('a tampered, expired, wrong-audience, foreign or unsigned JWT is 401; an old key still verifies', async () => {
    const { tokens } = await oidcSignIn('alice');
    const [h, p, s] = tokens.access_token.split('.') as [string, string, string];
    assert.equal(JSON.parse(Buffer.from(h, 'base64url').toString()).kid, key.kid);
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { sub: string; iss: string; aud: string; exp: number };
    assert.deepEqual([claims.iss, claims.aud], ['stackly', 'stackly-api']);
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    const sign = async (jwk: SigningJwk, o: { aud?: string; exp?: number; typ?: string; iss?: string; sub?: string } = {}) =>
      new SignJWT({}).setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: o.typ ?? 'at+jwt' })
        .setIssuer(o.iss ?? 'stackly').setAudience(o.aud ?? 'stackly-api').setSubject(o.sub ?? claims.sub)
        .setIssuedAt().setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(await importJWK(jwk, jwk.alg));
    const otherKey = { ...(await generateSigningKey()), kid: key.kid };
    const cases: Array<[string, string]> = [
      ['tampered payload', `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: '00000000-0000-0000-0000-000000000000' })).toString('base64url')}.${s}`],
      ['tampered signature', `${h}.${p}.${flipped}`],
      ['expired', await sign(key, { exp: Math.floor(Date.now() / 1000) - 60 })],
      ['wrong audience', await sign(key, { aud: 'someone-else' })],
      ['wrong issuer', await sign(key, { iss: 'evil' })],
      ['an ID token, not an access token', await sign(key, { typ: 'JWT' })],
      ['signed by a key not configured (same kid)', await sign(otherKey)],
      ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`],
    ];
    for (const [what, token] of cases) {
      const r = await me(token, 'default');
      assert.equal(r.status, 401, what);
      assert.match((await errorOf(r)).message, /invalid or expired access token/, what);
    }
    assert.equal((await me(await sign(key), 'default')).status, 200, 'a good one, for contrast');
    assert.equal((await me(await sign(old), 'default')).status, 200, 'a token of the second (older) key still verifies: rotation');
  });

  it('state: a replayed callback, an unknown or missing state is 400 naming it; a bad provider or cli is 400', async () => {
    const { callback } = await oidcSignIn('alice');
    const replay = await fetch(callback, { headers: { accept: 'application/json' } });
    assert.equal(replay.status, 400);
    const e = await errorOf(replay);
    assert.equal(e.code, 'invalid_state');
    assert.match(e.message, /^state: this sign-in was already completed \(a replayed callback\)/);
    const unknown = await fetch(url('/auth/callback?code=x&state=nope'), { headers: { accept: 'application/json' } });
    assert.equal(unknown.status, 400);
    assert.match((await errorOf(unknown)).message, /^state: no sign-in in progress has this state/);
    const none = await fetch(url('/auth/callback?code=x'), { headers: { accept: 'application/json' } });
    assert.match((await errorOf(none)).message, /^state: missing/);
    const html = await fetch(url('/auth/callback?code=x&state=nope'), { headers: { accept: 'text/html' } });
    assert.equal(html.status, 400);
    assert.match(await html.text(), /Sign-in failed[\s\S]*state: no sign-in/);
    const badProvider = await fetch(url('/auth/login?provider=saml'), { redirect: 'manual' });
    assert.equal(badProvider.status, 400);
    assert.match((await errorOf(badProvider)).message, /^provider: must be one of oidc, github/);
    const noProvider = await fetch(url('/auth/login'), { redirect: 'manual' });
    assert.match((await errorOf(noProvider)).message, /^provider: say which/);
    const badCli = await fetch(url('/auth/login?provider=oidc&cli=xyz'), { redirect: 'manual' });
    assert.match((await errorOf(badCli)).message, /^cli: /);
    // The login redirect carries state, PKCE S256 and a nonce, all kept server-side.
    const login = await fetch(url('/auth/login?provider=oidc'), { redirect: 'manual' });
    assert.equal(login.status, 302);
    const to = new URL(login.headers.get('location')!);
    assert.equal(to.origin, idp.issuer);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    const row = await tdb.db.selectFrom('login_requests').selectAll().where('state', '=', to.searchParams.get('state')!).executeTakeFirstOrThrow();
    assert.equal(row.nonce, to.searchParams.get('nonce'));
    assert.ok(row.code_verifier && !to.href.includes(row.code_verifier), 'the verifier stays on the server');
  });

  it('a person who cancels at the provider: 400 sign_in_refused naming the provider\'s error', async () => {
    const b = new TestBrowser();
    let at = url('/auth/login?provider=oidc');
    let res = await b.request(at);
    while (res.status >= 300 && res.status < 400) {
      at = new URL(res.headers.get('location')!, at).href;
      res = await b.request(at);
    }
    assert.match(at, /\/interaction\/[^/]+$/, 'on the provider\'s login page');
    // The page's cancel link: the provider sends the browser back with error=access_denied.
    let back = await b.request(`${at}/abort`);
    while (back.status >= 300 && back.status < 400 && !back.headers.get('location')!.startsWith(url('/auth/callback'))) {
      back = await b.request(new URL(back.headers.get('location')!, at).href);
    }
    const callback = await b.request(back.headers.get('location')!, { accept: 'application/json' });
    assert.equal(callback.status, 400);
    const e = await errorOf(callback);
    assert.equal(e.code, 'sign_in_refused');
    assert.match(e.message, /^the identity provider refused the sign-in: access_denied/);
  });

  it('an expired sign-in is 400 at its callback', async () => {
    const login = await fetch(url('/auth/login?provider=oidc'), { redirect: 'manual' });
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    await tdb.db.updateTable('login_requests').set({ expires_at: new Date(Date.now() - 1000) }).where('state', '=', state).execute();
    const r = await fetch(url(`/auth/callback?code=x&state=${state}`), { headers: { accept: 'application/json' } });
    assert.equal(r.status, 400);
    assert.match((await errorOf(r)).message, /^state: this sign-in has expired/);
  });

  it('GitHub (stand-in): teams become org/team groups across pages; github-only mappings apply', async () => {
    gh.signedIn = { id: 4242, login: 'carol-gh', name: 'Carol', email: null, teams: ['acme/platform', 'acme/admins', 'other/devs'] };
    const b = new TestBrowser();
    const { res } = await b.signIn(url('/auth/login?provider=github'), { login: 'carol-gh', stopAt: url('/auth/callback') });
    assert.equal(res.status, 200, await res.clone().text());
    const tokens = (await res.json()) as Tokens;
    assert.deepEqual(tokens.user.groups, ['acme/admins', 'acme/platform', 'other/devs']);
    const m = (await (await me(tokens.access_token)).json()) as Me;
    assert.deepEqual([m.user.login, m.user.provider, m.account.role, m.groups], ['carol-gh', 'github', 'admin', ['acme/admins', 'acme/platform', 'other/devs']]);
    const user = await tdb.db.selectFrom('users').selectAll().where('id', '=', m.user.id).executeTakeFirstOrThrow();
    assert.equal(user.subject, '4242', 'GitHub\'s numeric id is the subject');
    const exchange = gh.exchanges.at(-1)!;
    assert.ok(exchange.code_verifier, 'PKCE verifier sent to the token endpoint');
    assert.equal(exchange.redirect_uri, url('/auth/callback'));
    // A code GitHub refuses: 400 naming the provider's error.
    const login = await fetch(url('/auth/login?provider=github'), { redirect: 'manual' });
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const bad = await fetch(url(`/auth/callback?code=forged&state=${state}`), { headers: { accept: 'application/json' } });
    assert.equal(bad.status, 400);
    const e = await errorOf(bad);
    assert.equal(e.code, 'sign_in_failed');
    assert.match(e.message, /^signing in with github: /);
  });

  it('a command line\'s poll: unknown before the browser comes, pending while it signs in, the failure when the provider refuses', async () => {
    const secret = randomBytes(32).toString('base64url');
    const poll = () => post('/auth/cli/poll', { poll_secret: secret });
    const before = await poll();
    assert.equal(before.status, 404);
    assert.equal((await errorOf(before)).code, 'unknown_login');
    const login = await fetch(url(`/auth/login?provider=github&cli=${createHash('sha256').update(secret).digest('hex')}`), { redirect: 'manual' });
    assert.equal(login.status, 302);
    assert.equal((await poll()).status, 202);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    assert.equal((await fetch(url(`/auth/callback?code=forged&state=${state}`), { headers: { accept: 'application/json' } })).status, 400);
    const failed = await poll();
    assert.equal(failed.status, 400);
    assert.equal((await errorOf(failed)).code, 'sign_in_failed');
    assert.equal((await post('/auth/cli/poll', { poll_secret: 'short' })).status, 400);
  });

  it('a command line\'s sign-in is handed out only once the browser that finished it types the code: a link sent to someone else gets nothing', async () => {
    idp.people.set('frank', { groups: [] });
    const start = async () => {
      const secret = randomBytes(32).toString('base64url');
      const login = await fetch(url(`/auth/login?provider=oidc&cli=${createHash('sha256').update(secret).digest('hex')}`), { redirect: 'manual' });
      const code = login.headers.get('x-stackly-login-code')!;
      assert.match(code, /^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
      const b = new TestBrowser();
      const { res } = await b.signIn(login.headers.get('location')!, { login: 'frank', stopAt: url('/auth/callback') });
      const body = (await res.json()) as { status: string; confirm: { state: string } };
      assert.equal(body.status, 'confirm');
      return { secret, code, b, state: body.confirm.state, poll: () => post('/auth/cli/poll', { poll_secret: secret }) };
    };
    const s1 = await start();
    assert.equal((await s1.poll()).status, 202, 'signed in at the provider, not yet confirmed');
    // Whoever started it knows the state and the code, but not the browser's cookie.
    const stranger = await post('/auth/cli/confirm', { state: s1.state, code: s1.code });
    assert.equal(stranger.status, 400);
    assert.match((await errorOf(stranger)).message, /this browser did not finish this sign-in/);
    assert.equal((await s1.poll()).status, 202);
    // The person at the browser was never shown a code: a wrong one cancels the sign-in.
    const wrong = await s1.b.request(url('/auth/cli/confirm'), { form: { state: s1.state, code: 'AAAA-AAAA' }, accept: 'application/json' });
    assert.equal(wrong.status, 400);
    assert.match((await errorOf(wrong)).message, /^code: not the code the command line shows; this sign-in is cancelled/);
    const failed = await s1.poll();
    assert.equal(failed.status, 400);
    assert.equal((await errorOf(failed)).code, 'sign_in_failed');
    // The right code in the right browser: the command line gets its tokens, once.
    const s2 = await start();
    const ok = await s2.b.request(url('/auth/cli/confirm'), { form: { state: s2.state, code: s2.code }, accept: 'application/json' });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal((await s2.b.request(url('/auth/cli/confirm'), { form: { state: s2.state, code: s2.code }, accept: 'application/json' })).status, 400, 'confirmed once');
    const got = await s2.poll();
    assert.equal(got.status, 200);
    assert.equal(((await got.json()) as { login: string }).login, 'frank');
    assert.equal((await s2.poll()).status, 410, 'collected once');
  });

  describe('the command line: stackly login, whoami, logout', () => {
    const ROOT = join(__dirname, '..', '..');
    let config: string;
    before(() => { config = mkdtempSync(join(tmpdir(), 'stackly-cli-config-')); });
    after(() => rmSync(config, { recursive: true, force: true }));

    /** The CLI from its sources, as a user runs it; `onErr` sees stderr as it comes. */
    function stackly(args: string[], env: Record<string, string> = {}, onErr?: (all: string) => void) {
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', ...args], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH, HOME: process.env.HOME, XDG_CONFIG_HOME: config, STACKLY_API_URL: api.url, STACKLY_STATE_DIR: join(config, 'no-dev-stack'), ...env },
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
      child.stderr!.on('data', (c: Buffer) => { err += c.toString(); onErr?.(err); });
      return new Promise<{ code: number | null; out: string; err: string }>((r) => child.on('exit', (code) => r({ code, out, err })));
    }
    const credentials = () => JSON.parse(readFileSync(join(config, 'stackly', 'credentials.json'), 'utf8')) as { servers: Record<string, { login: string; access_token: string; access_expires_at: string; refresh_token: string }> };

    it('login: the browser signs in at the provider, the command line gets the tokens (0600 file); whoami renews them; an explicit key wins; logout revokes', async () => {
      idp.people.set('dave', { email: 'dave@example.com', groups: ['sre', 'observers'] });
      let browsing: Promise<Response> | undefined;
      const done = stackly(['login', '--provider', 'oidc', '--no-browser'], {}, (err) => {
        const m = /^ {2}(http:\/\/\S+)$/m.exec(err);
        const code = /type this code: (\S+)/.exec(err)?.[1];
        if (m && code && !browsing) {
          // The person at the browser: the provider's login and consent, then the api's page, where
          // they type the code their terminal shows.
          const b = new TestBrowser();
          browsing = (async () => {
            const { res } = await b.signIn(m[1]!, { login: 'dave', stopAt: url('/auth/callback'), accept: 'text/html' });
            const form = await res.text();
            assert.match(form, /Type the code your terminal shows/);
            assert.ok(!/srt_|eyJ/.test(form), 'the browser never sees the command line\'s tokens');
            const state = /name="state" value="([^"]+)"/.exec(form)![1]!;
            return b.request(url('/auth/cli/confirm'), { form: { state, code: code.toLowerCase() } });
          })();
        }
      });
      const r = await done;
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, `Signed in as dave to ${api.url}\n`);
      assert.match(r.err, /When the browser asks, type this code: [A-Z2-9]{4}-[A-Z2-9]{4}/);
      const page = await browsing!;
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /Signed in as <b>dave<\/b>\. Go back to the command line/);
      assert.ok(!/srt_|eyJ/.test(html), 'the browser never sees the command line\'s tokens');
      const file = join(config, 'stackly', 'credentials.json');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const first = credentials().servers[api.url]!;
      assert.equal(first.login, 'dave');

      const who = await stackly(['whoami']);
      assert.equal(who.code, 0, who.err);
      assert.equal(who.out, 'dave (oidc), operator in account default\ngroups: observers, sre\n');

      // The access token has expired: the next command renews it with the refresh token, once.
      const c = credentials();
      c.servers[api.url]!.access_expires_at = new Date(Date.now() - 1000).toISOString();
      writeFileSync(file, JSON.stringify(c));
      const again = await stackly(['whoami', '--json']);
      assert.equal(again.code, 0, again.err);
      assert.equal((JSON.parse(again.out) as { name: string }).name, 'dave');
      const renewed = credentials().servers[api.url]!;
      assert.notEqual(renewed.refresh_token, first.refresh_token);
      assert.notEqual(renewed.access_token, first.access_token);
      assert.ok(Date.parse(renewed.access_expires_at) > Date.now());

      // An API key given explicitly wins over the stored sign-in.
      const account = await tdb.db.selectFrom('accounts').select('id').where('name', '=', 'default').executeTakeFirstOrThrow();
      const key = await createPrincipal(tdb.db, { accountId: account.id, login: 'erin', role: 'viewer' });
      const asKey = await stackly(['whoami'], { STACKLY_API_TOKEN: key.key });
      assert.match(asKey.out, /^erin \(local, through an API key\), viewer in account default/);

      const out = await stackly(['logout']);
      assert.equal(out.code, 0, out.err);
      assert.equal(out.out, `Signed out of ${api.url}\n`);
      assert.equal(credentials().servers[api.url], undefined);
      assert.equal((await post('/auth/token', { refresh_token: renewed.refresh_token })).status, 401, 'revoked at the api');
      const noProvider = await stackly(['login', '--provider', 'saml', '--no-browser']);
      assert.equal(noProvider.code, 1);
      assert.match(noProvider.err, /^stackly: signing in: HTTP 400 invalid_request: provider: must be one of oidc, github$/m);
      const none = await stackly(['whoami']);
      assert.equal(none.code, 1);
      assert.match(none.err, /^stackly: no API token: run stackly login/);
    });
  });
});
