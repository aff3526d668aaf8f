/**
 * `stackly api-key create|list|revoke` end to end: the CLI as its own process (cli/index.ts under
 * tsx) against the api process (api/main.ts) on real Postgres. The key is printed once (alone on
 * stdout, the warning on stderr), works at once, is listed by prefix without the key, is revoked by
 * prefix or id and then refused; errors are one line and never show the caller's token.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ensureAccount } from '../../db/repos/accounts';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

const ROOT = join(__dirname, '..', '..');

describe('stackly api-key: the CLI against the api process', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let api: ApiProcess;
  let admin: TestPrincipal;
  let viewer: TestPrincipal;

  function cli(args: string[], token: string): Promise<{ code: number | null; out: string; err: string }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', 'api-key', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STACKLY_API_URL: api.url, STACKLY_API_TOKEN: token },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  }
  const me = (key: string) => fetch(`${api.url}/api/me`, { headers: { authorization: `Bearer ${key}` } });

  before(async () => {
    tdb = await createTestDb('cli_api_key');
    const acme = await ensureAccount(tdb.db, 'acme', 'stackly');
    admin = await createPrincipal(tdb.db, { accountId: acme.id, login: 'alice', role: 'admin' });
    viewer = await createPrincipal(tdb.db, { accountId: acme.id, login: 'vic', role: 'viewer' });
    api = await startApiProcess(apiProcessEnv({
      db: tdb, webhookSecret: 'cli-api-key-webhook-secret-0123',
      // The api-key routes need only Postgres; the api connects to Temporal and Vault lazily.
      temporal: { address: '127.0.0.1:1', namespace: 'stackly' }, vault: { addr: 'http://127.0.0.1:1', token: 'unused' },
      extra: { STACKLY_ACCOUNT: 'acme' },
    }));
  });
  after(async () => {
    await api?.stop();
    await tdb?.drop();
  });

  it('create prints the key once (alone on stdout, the warning on stderr); list shows it by prefix; revoke by prefix refuses it at once', async () => {
    const made = await cli(['create', 'ci deploys', '--role', 'operator', '--expires-in-days', '30'], admin.key);
    assert.equal(made.code, 0, made.err);
    const key = made.out.trim();
    const m = /^stk_([a-z0-9]{10})_[A-Za-z0-9_-]{43}$/.exec(key);
    assert.ok(m, `stdout is the key alone: ${made.out}`);
    const prefix = m[1]!;
    assert.match(made.err, new RegExp(`^Created API key ci deploys: id [0-9a-f-]{36}, prefix stk_${prefix}, role operator, expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\.$`, 'm'));
    assert.match(made.err, /shown only this once/);
    assert.ok(!made.err.includes(key), 'the key is not repeated on stderr');
    const who = (await (await me(key)).json()) as { name: string; account: { role: string } };
    assert.deepEqual([who.name, who.account.role], ['alice', 'operator'], 'the key works at once, for its maker, with its role');

    const list = await cli(['list'], admin.key);
    assert.equal(list.code, 0, list.err);
    const lines = list.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID +PREFIX +NAME +ROLE +CREATED +EXPIRES +LAST USED +REVOKED$/);
    const line = lines.find((l) => l.includes(`stk_${prefix}`));
    assert.ok(line, list.out);
    assert.match(line, /ci deploys +operator +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d +-$/, 'created, expires, last used, not revoked');
    assert.ok(!list.out.includes(key.split('_')[2]!), 'never the secret');
    assert.equal(lines.length, 1 + 3, 'alice\'s, vic\'s and the new key');

    const revoked = await cli(['revoke', `stk_${prefix}`], admin.key);
    assert.equal(revoked.code, 0, revoked.err);
    assert.match(revoked.out, new RegExp(`^Revoked API key ci deploys \\(stk_${prefix}, id [0-9a-f-]{36}, role operator\\): it no longer works\\.$`, 'm'));
    assert.equal((await me(key)).status, 401, 'refused at once');
    const after = await cli(['list', '--json'], admin.key);
    const items = (JSON.parse(after.out) as { items: Array<{ prefix: string; status: string; revoked_at: string | null }> }).items;
    assert.equal(items.find((k) => k.prefix === prefix)?.status, 'revoked');

    const again = await cli(['revoke', prefix], admin.key);
    assert.equal(again.code, 1);
    assert.match(again.err, new RegExp(`^stackly: API key ci deploys \\(${prefix}\\) was already revoked at .+\\n$`));
  });

  it('revoke by id; a key without expiry says so; --json create carries the key', async () => {
    const made = await cli(['create', 'bot', '--role', 'viewer', '--json'], admin.key);
    assert.equal(made.code, 0, made.err);
    const body = JSON.parse(made.out) as { id: string; key: string; expires_at: string | null };
    assert.equal(body.expires_at, null);
    assert.equal((await me(body.key)).status, 200);
    const list = await cli(['list'], admin.key);
    assert.match(list.out.split('\n').find((l) => l.includes(body.id))!, / bot +viewer +\S+ \S+ +never +\S+ \S+ +-$/);
    const r = await cli(['revoke', body.id], admin.key);
    assert.equal(r.code, 0, r.err);
    assert.equal((await me(body.key)).status, 401);
  });

  it('errors are one line with the API\'s code and never the token: a viewer may not, an unknown key, a bad role or expiry', async () => {
    const denied = await cli(['create', 'x', '--role', 'viewer'], viewer.key);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /^stackly: creating API key x: HTTP 403 forbidden: POST \/api\/api-keys needs the admin role in account acme; vic has viewer\n$/);
    assert.ok(!denied.err.includes(viewer.key) && !denied.out.includes(viewer.key));
    const unknown = await cli(['revoke', 'zzzzzzzzzz'], admin.key);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^stackly: no API key with id or prefix "zzzzzzzzzz" in this account/);
    const role = await cli(['create', 'x', '--role', 'root'], admin.key);
    assert.notEqual(role.code, 0);
    assert.match(role.err, /Allowed choices are viewer, operator, approver, admin/);
    const days = await cli(['create', 'x', '--role', 'viewer', '--expires-in-days', '0'], admin.key);
    assert.equal(days.code, 1);
    assert.match(days.err, /^stackly: --expires-in-days must be a whole number of days from 1 to 3650, got "0"\n$/);
    const bad = await cli(['list'], 'stk_0123456789_' + 'a'.repeat(43));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^stackly: listing API keys: HTTP 401 unauthorized: invalid API key\n$/);
  });
});
