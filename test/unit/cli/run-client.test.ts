import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { ApiClient, ApiRequestError, DEFAULT_API_URL, resolveConnection, type RunBody } from '../../../cli/api-client';
import { credentialsPath, saveSession } from '../../../cli/credentials';
import { findStackCode, jsonDisplay, plainDisplay, terminalDisplay, watchRun } from '../../../cli/run';
import type { RunProgress } from '../../../workflows/definitions';

const TOKEN = 'secret-token-0123456789';

/** A fetch that answers from a list and records the requests. */
function fakeFetch(answers: Array<{ status: number; body?: unknown; raw?: string } | Error>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const a = answers.shift();
    if (!a) throw new Error('no more answers');
    if (a instanceof Error) throw a;
    return new Response(a.raw ?? JSON.stringify(a.body), { status: a.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { fn, calls };
}

const body = (p: Partial<RunProgress>): RunBody => ({
  operation_id: 'op1', operation_status: 'running',
  progress: { workflowId: 'r1', kind: 'deploy', phase: 'planning', commit: 'c0ffee', stack: 's', state: 'prod', units: {}, approvals: [], ...p },
});

describe('cli run: API client', () => {
  it('sends the bearer token and JSON; errors name what failed, the status and the API error, never the token', async () => {
    const f = fakeFetch([{ status: 202, body: { approved: true, by: 'alice', scope: 'review' } }, { status: 409, body: { error: { code: 'run_not_running', message: `approving: the run is not running` } } }]);
    const c = new ApiClient({ url: 'http://api.test', token: TOKEN }, f.fn);
    assert.deepEqual(await c.approve('r1', { scope: 'review', comment: 'ok' }), { approved: true, by: 'alice', scope: 'review' });
    assert.equal(f.calls[0]!.url, 'http://api.test/api/runs/r1/approve');
    assert.equal(f.calls[0]!.init.method, 'POST');
    assert.equal((f.calls[0]!.init.headers as Record<string, string>).authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(JSON.parse(String(f.calls[0]!.init.body)), { scope: 'review', comment: 'ok' });
    const err = await c.cancel('r1').catch((e: unknown) => e);
    assert.ok(err instanceof ApiRequestError);
    assert.equal(err.message, 'cancelling run r1: HTTP 409 run_not_running: approving: the run is not running');
    assert.equal(err.status, 409);
    assert.ok(!err.message.includes(TOKEN));
  });

  it('an unreachable API and a non-JSON error body still give one clear line', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const f = fakeFetch([refused, { status: 502, raw: '<html>Bad Gateway</html>\n<body/>' }]);
    const c = new ApiClient({ url: 'http://127.0.0.1:9', token: TOKEN }, f.fn);
    await assert.rejects(c.run('r1'), { message: 'reading run r1: cannot reach the API at http://127.0.0.1:9 (ECONNREFUSED)' });
    await assert.rejects(c.run('r1'), { message: 'reading run r1: HTTP 502 error: <html>Bad Gateway</html>' });
  });

  it('connection: flags, then environment, then the stackly login session, then the dev token file; a bad URL or no token is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stackly-cli-'));
    const XDG_CONFIG_HOME = join(dir, 'config');
    try {
      assert.throws(() => resolveConnection({}, { XDG_CONFIG_HOME }, dir), /no API token: run stackly login, or pass --token or set STACKLY_API_TOKEN/);
      writeFileSync(join(dir, 'api-token'), 'from-file\n');
      assert.deepEqual(resolveConnection({}, { STACKLY_STATE_DIR: dir, XDG_CONFIG_HOME }, '/nonexistent'), { url: DEFAULT_API_URL, token: 'from-file' });
      saveSession(credentialsPath(XDG_CONFIG_HOME), DEFAULT_API_URL, {
        login: 'al', access_token: 'at', access_expires_at: new Date(Date.now() + 600_000).toISOString(), refresh_token: 'rt', refresh_expires_at: new Date(Date.now() + 86_400_000).toISOString(), account: 'acme',
      });
      const signedIn = resolveConnection({}, { STACKLY_STATE_DIR: dir, XDG_CONFIG_HOME }, '/nonexistent');
      assert.deepEqual([signedIn.token, signedIn.account, !!signedIn.session], ['', 'acme', true], 'the login wins over the dev token file');
      assert.deepEqual(resolveConnection({}, { STACKLY_API_TOKEN: 'env', XDG_CONFIG_HOME }), { url: DEFAULT_API_URL, token: 'env' }, 'an explicit key wins over the login');
      assert.deepEqual(resolveConnection({}, { STACKLY_API_URL: 'http://h:1/', STACKLY_API_TOKEN: 'env', STACKLY_STATE_DIR: dir }), { url: 'http://h:1', token: 'env' });
      assert.deepEqual(resolveConnection({ apiUrl: 'https://x', token: 'flag' }, { STACKLY_API_URL: 'http://h:1', STACKLY_API_TOKEN: 'env' }), { url: 'https://x', token: 'flag' });
      assert.throws(() => resolveConnection({ apiUrl: 'ftp://x', token: 't' }, {}), /the API URL "ftp:\/\/x" is not an http\(s\) URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds a stack code by id or by its one active name, and explains the others', async () => {
    const code = (id: string, status = 'active') => ({ id, name: 'net', repo_url: 'file:///r', repo_path: `stacks/${id}`, status, current_commit: 'c' });
    const client = (named: ReturnType<typeof code>[]) => ({
      stackCode: async (id: string) => ({ ...code(id), states: [] }),
      stackCodesNamed: async () => named,
    });
    const uuid = '6f1c2a9e-1b2c-4d3e-8f90-0123456789ab';
    assert.equal((await findStackCode(client([]), uuid)).id, uuid);
    assert.equal((await findStackCode(client([code('a', 'deregistered'), code('b')]), 'net')).id, 'b');
    await assert.rejects(findStackCode(client([]), 'net'), { message: 'no stack code named "net"' });
    await assert.rejects(findStackCode(client([code('a', 'invalid')]), 'net'), { message: 'the stack code named "net" is invalid, not active' });
    await assert.rejects(findStackCode(client([code('a'), code('b')]), 'net'), /2 active stack codes are named "net"; pass one's id: a \(file:\/\/\/r stacks\/a\), b/);
  });
});

describe('cli run: watching a run', () => {
  const sleep = async () => undefined;

  it('waits out 404s of a just started run, rides over transient failures, appends a line per change and stops at the end', async () => {
    const answers: Array<RunBody | ApiRequestError> = [
      new ApiRequestError('reading run r1', 404, 'not_found', 'run r1 not found'),
      body({ phase: 'planning', units: { a: { status: 'pending' } } }),
      new ApiRequestError('reading run r1', 503, 'temporal_unavailable', 'Temporal did not answer'),
      body({ phase: 'planning', units: { a: { status: 'pending' } } }),
      body({ phase: 'awaiting_approval', waitingReason: 'waiting for approval of the plan', units: { a: { status: 'pending' } }, review: { counts: { add: 1, change: 0, destroy: 0, replace: 0 }, changes: [{ address: 'terraform_data.a', actions: ['create'] }] } }),
      body({ phase: 'succeeded', units: { a: { status: 'succeeded' } }, approvals: [{ by: 'alice', scope: 'review' }] }),
    ];
    const client = { run: async () => { const a = answers.shift()!; if (a instanceof Error) throw a; return a; } };
    let out = '';
    const last = await watchRun(client, 'r1', { display: plainDisplay('r1', (s) => { out += s; }), sleep, startGraceMs: 60_000 });
    assert.equal(last.progress.phase, 'succeeded');
    assert.equal(answers.length, 0);
    assert.equal(out, [
      'Run r1: starting',
      's/prod at c0ffee · planning',
      '  unit a: pending',
      's/prod at c0ffee · awaiting approval (waiting for approval of the plan)',
      'Plan: 1 to add, 0 to change, 0 to destroy.',
      '    + terraform_data.a  create',
      'Waiting for approval: waiting for approval of the plan',
      '  approve: stackly run approve r1',
      '  reject:  stackly run reject r1 --reason "…"',
      's/prod at c0ffee · succeeded',
      '  unit a: succeeded',
      '  approved by alice',
      '',
    ].join('\n'));
  });

  it('a 404 after the grace, or any other API error, ends the watch with that error', async () => {
    let t = 0;
    const notFound = new ApiRequestError('reading run r1', 404, 'not_found', 'run r1 not found');
    const client = { run: async () => { t += 1000; throw notFound; } };
    await assert.rejects(watchRun(client, 'r1', { display: jsonDisplay(() => undefined), sleep, now: () => t, startGraceMs: 2500 }), notFound);
    const denied = new ApiRequestError('reading run r1', 401, 'unauthorized', 'bad token');
    await assert.rejects(watchRun({ run: async () => { throw denied; } }, 'r1', { display: jsonDisplay(() => undefined), sleep }), denied);
    let tries = 0;
    const down = new ApiRequestError('reading run r1', 0, 'unreachable', 'cannot reach the API');
    await assert.rejects(watchRun({ run: async () => { tries++; throw down; } }, 'r1', { display: jsonDisplay(() => undefined), sleep, maxTransient: 3 }), down);
    assert.equal(tries, 4);
  });

  it('--json: one line per change', async () => {
    const same = body({ phase: 'planning' });
    const answers = [same, same, body({ phase: 'rejected', error: 'rejected by bob' })];
    let out = '';
    const last = await watchRun({ run: async () => answers.shift()! }, 'r1', { display: jsonDisplay((s) => { out += s; }), sleep });
    assert.equal(last.progress.phase, 'rejected');
    assert.deepEqual(out.trim().split('\n').map((l) => (JSON.parse(l) as RunBody).progress.phase), ['planning', 'rejected']);
  });
});

describe('cli run: the terminal display', () => {
  it('persists the notices once above the redrawn block and leaves the last frame', () => {
    let written = '';
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 40 });
    stream.on('data', (c: Buffer) => { written += c.toString(); });
    const d = terminalDisplay('r1', stream as unknown as NodeJS.WriteStream);
    const waiting = body({ phase: 'awaiting_approval', waitingReason: 'waiting for approval of the plan', units: { a: { status: 'pending' } }, review: { counts: { add: 1, change: 0, destroy: 0, replace: 0 }, changes: [{ address: 'terraform_data.a', actions: ['create'] }] } });
    d.update(waiting);
    d.update(waiting);
    d.update(body({ phase: 'succeeded', units: { a: { status: 'succeeded' } } }));
    d.stop();
    const text = stripVTControlCharacters(written);
    assert.equal(text.split('Plan: 1 to add').length, 2, 'the plan summary once');
    assert.equal(text.split('approve: stackly run approve r1').length, 2, 'the approval commands once');
    assert.ok(text.trimEnd().endsWith('s/prod at c0ffee · succeeded\n  ✓ a  succeeded'), text);
    assert.ok(written.includes('\u001B[1A') || written.includes('\u001B[2K'), 'redrawn in place with cursor movements');
  });
});
