/**
 * Rate limits (issue 19, part 7) against real Postgres: two api instances (buildApi, as the api
 * process builds it) on one database with low limits and a short window, and the api process itself
 * with its limits from the environment. Past a limit: 429 with Retry-After and the error naming the
 * limit; other accounts unaffected; the count is shared by the instances; the window resets; requests
 * without a valid credential count per address (a valid one never does); the webhook receiver is not
 * limited; a store that cannot count lets requests through.
 */
import assert from 'node:assert/strict';
import { Connection } from '@temporalio/client';
import { namespaceClients } from '../../common/temporal';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { buildApi } from '../../api/server';
import type { RateLimitSettings } from '../../api/rate-limit';
import { createLogger } from '../../common/logger';
import { ensureAccount } from '../../db/repos/accounts';
import { pruneWindows } from '../../db/repos/rate-limits';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

const WINDOW_MS = 4000;
const LIMITS: RateLimitSettings = { perCredential: 3, perAccount: 5, perAddress: 4, windowMs: WINDOW_MS };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits for the start of the next window (windows are aligned on the epoch; Postgres runs on this machine's clock). */
const freshWindow = () => sleep(WINDOW_MS - (Date.now() % WINDOW_MS) + 30);
const errorOf = (r: LightMyRequestResponse) => (JSON.parse(r.body) as { error: { code: string; message: string } }).error;

describe('rate limits: per credential, per account, per address, shared by api instances (real Postgres)', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let connection: Connection;
  let acmeId: string;
  let betaId: string;
  let n = 0;

  /** A new viewer of the account, so each test starts from a credential with no count. */
  const someone = (accountId: string) => createPrincipal(tdb.db, { accountId, login: `user-${++n}`, role: 'viewer' });
  const me = (app: FastifyInstance, p: TestPrincipal, remoteAddress = '127.0.0.1') =>
    app.inject({ method: 'GET', url: '/api/me', headers: p.auth, remoteAddress });

  before(async () => {
    tdb = await createTestDb('rate_limit');
    acmeId = (await ensureAccount(tdb.db, 'acme', 'stackly')).id;
    betaId = (await ensureAccount(tdb.db, 'beta', 'stackly-beta')).id;
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    const build = () => buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: acmeId,
      webhookSecret: 'rate-limit-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      bodyLimitBytes: 1 << 20, temporalTimeoutMs: 500, rateLimits: LIMITS,
    });
    [a, b] = [await build(), await build()];
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });

  it('past the credential limit: 429 with Retry-After naming the limit; another account is unaffected', async () => {
    const alice = await someone(acmeId);
    const carol = await someone(betaId);
    await freshWindow();
    for (let i = 1; i <= LIMITS.perCredential; i++) {
      const r = await me(a, alice);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers['x-ratelimit-limit'], String(LIMITS.perCredential));
      assert.equal(r.headers['x-ratelimit-remaining'], String(LIMITS.perCredential - i));
    }
    const over = await me(a, alice);
    assert.equal(over.statusCode, 429, over.body);
    const retry = Number(over.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= WINDOW_MS / 1000, `Retry-After ${over.headers['retry-after']}`);
    assert.equal(errorOf(over).code, 'rate_limited');
    assert.match(errorOf(over).message, /rate limit of the credential exceeded: an API key \(acting as user-\d+\) may make 3 requests every 4 s; retry in \d s/);
    assert.equal(over.headers['x-ratelimit-remaining'], '0');
    // Another account's credential, in the same window, from the same address.
    for (let i = 0; i < LIMITS.perCredential; i++) assert.equal((await me(a, carol)).statusCode, 200);
    // Refused by its credential, the request spent nothing of the account's budget.
    const count = await tdb.db.selectFrom('rate_limits').select('count').where('key', '=', `account:${acmeId}`).orderBy('window_start', 'desc').executeTakeFirst();
    assert.equal(count?.count, LIMITS.perCredential);
  });

  it('the account limit counts all its credentials together; the stricter limit answers', async () => {
    const [x, y] = [await someone(acmeId), await someone(acmeId)];
    const carol = await someone(betaId);
    await freshWindow();
    for (let i = 0; i < 3; i++) assert.equal((await me(a, x)).statusCode, 200);
    for (let i = 0; i < 2; i++) assert.equal((await me(b, y)).statusCode, 200);
    const over = await me(a, y);
    assert.equal(over.statusCode, 429, over.body);
    assert.match(errorOf(over).message, /rate limit of account acme exceeded: all its credentials together may make 5 requests every 4 s/);
    assert.ok(Number(over.headers['retry-after']) >= 1);
    assert.equal((await me(b, carol)).statusCode, 200, 'account beta is unaffected');
  });

  it('two api instances share one count; the window resets', async () => {
    const p = await someone(betaId);
    await freshWindow();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await me(i % 2 ? b : a, p)).statusCode);
    assert.deepEqual(answers, [200, 200, 200, 429], 'the third request on either instance is the last');
    const over = await me(a, p);
    assert.equal(over.statusCode, 429);
    await sleep(Number(over.headers['retry-after']) * 1000 + 50);
    assert.equal((await me(b, p)).statusCode, 200, 'a new window');
  });

  it('without a valid credential: limited per address; a valid credential from that address is not; webhooks are not limited', async () => {
    const p = await someone(acmeId);
    await freshWindow();
    const bad = (remoteAddress: string) => a.inject({ method: 'GET', url: '/api/me', headers: { authorization: 'Bearer not-a-key' }, remoteAddress });
    for (let i = 0; i < LIMITS.perAddress; i++) assert.equal((await bad('10.0.0.7')).statusCode, 401);
    const over = await bad('10.0.0.7');
    assert.equal(over.statusCode, 429);
    assert.match(errorOf(over).message, /without a valid credential exceeded: one address may make 4 requests every 4 s/);
    assert.ok(Number(over.headers['retry-after']) >= 1);
    assert.equal((await bad('10.0.0.8')).statusCode, 401, 'another address');
    assert.equal((await me(b, p, '10.0.0.7')).statusCode, 200, 'a valid credential is counted as itself, not as its address');
    // Public routes count per address too, the webhook receiver not at all (api/README.md).
    assert.equal((await b.inject({ method: 'GET', url: '/openapi.json', remoteAddress: '10.0.0.7' })).statusCode, 429);
    for (let i = 0; i < LIMITS.perAddress + 2; i++) {
      const r = await a.inject({ method: 'POST', url: '/webhooks/github', remoteAddress: '10.0.0.7', headers: { 'content-type': 'application/json' }, payload: '{}' });
      assert.equal(r.statusCode, 401, r.body);
    }
  });

  it('when Postgres cannot count, requests go through (fail open) and limits come back with it', async () => {
    const p = await someone(acmeId);
    await freshWindow();
    await sql`alter table rate_limits rename to rate_limits_away`.execute(tdb.db);
    try {
      for (let i = 0; i < LIMITS.perCredential + 2; i++) assert.equal((await me(a, p)).statusCode, 200);
    } finally {
      await sql`alter table rate_limits_away rename to rate_limits`.execute(tdb.db);
    }
    await freshWindow();
    for (let i = 0; i < LIMITS.perCredential; i++) assert.equal((await me(a, p)).statusCode, 200);
    assert.equal((await me(a, p)).statusCode, 429);
  });

  it('old windows are pruned', async () => {
    await tdb.db.insertInto('rate_limits').values({ key: 'key:old', window_start: new Date(Date.now() - 3_600_000), count: 9 }).execute();
    assert.ok(await pruneWindows(tdb.db, 10 * 60_000) >= 1);
    assert.equal(await tdb.db.selectFrom('rate_limits').select('key').where('key', '=', 'key:old').executeTakeFirst(), undefined);
  });

  describe('the api process: limits from its environment', () => {
    let api: ApiProcess;
    before(async () => {
      api = await startApiProcess(apiProcessEnv({
        db: tdb, webhookSecret: 'rate-limit-webhook-secret-0123',
        // Neither is used by GET /api/me; the api connects to them lazily.
        temporal: { address: '127.0.0.1:1', namespace: 'stackly' }, vault: { addr: 'http://127.0.0.1:1', token: 'unused' },
        extra: { STACKLY_ACCOUNT: 'acme', RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '2', RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: '0' },
      }));
    });
    after(async () => api?.stop());

    it('RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE=2: the third request of a minute is 429 with Retry-After', async () => {
      const p = await someone(acmeId);
      // Not across a minute's boundary.
      if (Date.now() % 60_000 > 55_000) await sleep(60_000 - (Date.now() % 60_000) + 50);
      const get = () => fetch(`${api.url}/api/me`, { headers: p.auth });
      assert.equal((await get()).status, 200);
      assert.equal((await get()).status, 200);
      const over = await get();
      assert.equal(over.status, 429);
      const retry = Number(over.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      const body = (await over.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'rate_limited');
      assert.match(body.error.message, /may make 2 requests a minute/);
    });
  });
});
