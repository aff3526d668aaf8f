/**
 * The hook runner activity (activities/hooks.ts) against a local HTTP server: priority order, the
 * signed JSON body (verified with @octokit/webhooks, an independent implementation), failures,
 * timeouts, continue_on_failure and what a failing pre-hook does to the hooks after it. No Temporal.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createSignatureVerifier } from '../../../api/signature';
import { createHookActivities, type HookPermissions } from '../../../activities/hooks';
import type { Lookup } from '../../../activities/hook-targets';
import { BUILTIN_HOOKS } from '../../../policies/hooks';
import type { HookDefinition, HookRunContext, WebhookHook } from '../../../policies/types';

interface Received { path: string; body: string; headers: Record<string, string | string[] | undefined> }

const SECRET = 'not-in-the-repository';
const ctx: HookRunContext = {
  event: 'pre_plan', runId: 'run-42', kind: 'deploy', stack: 'net', state: 'prod', environment: 'prod',
  commit: 'b'.repeat(40), plan: null, triggeredBy: 'tester',
};

describe('activities/hooks: runHooks', () => {
  let server: Server;
  let base: string;
  const received: Received[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body, headers: req.headers });
        if (req.url === '/fail') {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('quota service says no\nsecond line');
        } else if (req.url === '/slow') {
          setTimeout(() => { res.writeHead(200); res.end('late'); }, 2000);
        } else if (req.url === '/redirect') {
          res.writeHead(302, { location: '/ok' });
          res.end();
        } else {
          res.writeHead(204);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => { received.length = 0; });

  const env = { STACKLY_HOOK_SECRET: SECRET, STACKLY_HOOK_URL: '' };
  // This server listens on loopback: allow-listed, as an admin would, with both names granted.
  const granted: HookPermissions = { grantedEnv: new Set(['STACKLY_HOOK_SECRET', 'STACKLY_HOOK_URL']), allowedCidrs: ['127.0.0.1/32'] };
  const runner = (e: Record<string, string | undefined> = env, permissions: HookPermissions | { refused: string } = granted, lookup?: Lookup) =>
    createHookActivities({ logger: pino({ level: 'silent' }), env: e, permissions: async () => permissions, ...(lookup ? { lookup } : {}) });
  const web = (name: string, path: string, extra: Partial<WebhookHook> = {}): WebhookHook => ({
    name, type: 'webhook', file: 'policies/h.hcl', line: 1, url: `${base}${path}`, secretEnv: 'STACKLY_HOOK_SECRET',
    priority: 100, timeoutMs: 5000, continueOnFailure: false, ...extra,
  });

  it('POSTs the run summary signed with HMAC-SHA256 of the body; the signature verifies with the secret', async () => {
    const [r] = await runner().runHooks({ event: 'pre_plan', hooks: [web('notify', '/ok')], context: ctx });
    assert.equal(r!.ok, true, r!.message);
    assert.equal(r!.status, 204);
    assert.equal(received.length, 1);
    const got = received[0]!;
    const sig = got.headers['x-stackly-signature-256'] as string;
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    const verify = await createSignatureVerifier();
    assert.equal(await verify(SECRET, got.body, sig), true);
    assert.equal(await verify('another secret', got.body, sig), false);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-stackly-event'], 'pre_plan');
    assert.equal(got.headers['x-stackly-delivery'], 'run-42:pre_plan:notify');
    const body = JSON.parse(got.body) as Record<string, unknown>;
    assert.equal(body.event, 'pre_plan');
    assert.equal(body.run_id, 'run-42');
    assert.equal(body.stack, 'net');
    assert.equal(body.plan, null);
    assert.doesNotMatch(got.body, new RegExp(SECRET));
    assert.doesNotMatch(JSON.stringify(r), new RegExp(SECRET));
  });

  it('runs in priority order; a failing pre-hook blocks and the hooks after it are skipped', async () => {
    const hooks: HookDefinition[] = [
      web('third', '/ok', { priority: 30 }),
      web('first', '/ok', { priority: 1 }),
      web('second', '/fail', { priority: 20 }),
    ];
    const results = await runner().runHooks({ event: 'pre_plan', hooks, context: ctx });
    assert.deepEqual(results.map((r) => [r.hook, r.ok, r.blocking, r.skipped ?? false]), [
      ['first', true, false, false], ['second', false, true, false], ['third', false, false, true],
    ]);
    assert.deepEqual(received.map((x) => JSON.parse(x.body).hook), ['first', 'second']);
    assert.equal(results[1]!.status, 500);
    assert.match(results[1]!.message, /^POST to 127\.0\.0\.1:\d+: HTTP 500 Internal Server Error: quota service says no second line$/);
    assert.match(results[2]!.message, /not run: hook "second" stopped the run/);
  });

  it('continue_on_failure and post-events never block; a redirect is a failure', async () => {
    const pre = await runner().runHooks({ event: 'pre_apply', hooks: [web('soft', '/fail', { continueOnFailure: true }), web('next', '/ok')], context: { ...ctx, event: 'pre_apply' } });
    assert.deepEqual(pre.map((r) => [r.ok, r.blocking]), [[false, false], [true, false]]);
    const post = await runner().runHooks({ event: 'post_apply', hooks: [web('moved', '/redirect'), web('after', '/ok')], context: { ...ctx, event: 'post_apply' } });
    assert.deepEqual(post.map((r) => [r.ok, r.blocking, r.status]), [[false, false, 302], [true, false, 204]]);
  });

  it('each hook has its own timeout', async () => {
    const t0 = Date.now();
    const [r] = await runner().runHooks({ event: 'pre_plan', hooks: [web('slow', '/slow', { timeoutMs: 300 })], context: ctx });
    assert.ok(Date.now() - t0 < 1800, 'did not wait for the slow server');
    assert.equal(r!.ok, false);
    assert.equal(r!.blocking, true);
    assert.match(r!.message, /timed out after 300 ms/);
  });

  it('a missing secret or URL variable fails the hook by name, without sending anything; a refused connection fails', async () => {
    const [noSecret] = await runner({}).runHooks({ event: 'pre_plan', hooks: [web('n', '/ok')], context: ctx });
    assert.equal(noSecret!.ok, false);
    assert.match(noSecret!.message, /STACKLY_HOOK_SECRET \(the HMAC key of hook "n"\) is not set on the control worker/);
    const secretUrl = `${base}/ok?token=very-secret-token`;
    const [fromEnv] = await runner({ ...env, STACKLY_HOOK_URL: secretUrl }).runHooks({
      event: 'pre_plan', hooks: [{ ...web('u', '/ok'), url: undefined, urlEnv: 'STACKLY_HOOK_URL' }], context: ctx,
    });
    assert.equal(fromEnv!.ok, true);
    assert.equal(fromEnv!.message, 'POST to the URL in STACKLY_HOOK_URL: HTTP 204');
    assert.equal(received.length, 1);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const [refused] = await runner().runHooks({ event: 'pre_plan', hooks: [{ ...web('r', '/ok'), url: `http://127.0.0.1:${port}/x` }], context: ctx });
    assert.equal(refused!.ok, false);
    assert.match(refused!.message, /request failed: ECONNREFUSED/);
  });

  it('built-in hooks run in the same order with the webhooks', async () => {
    const results = await runner().runHooks({
      event: 'pre_apply',
      hooks: [web('hook', '/ok', { priority: 200 }), BUILTIN_HOOKS['builtin.record']!, BUILTIN_HOOKS['builtin.no_destroy']!],
      context: { ...ctx, event: 'pre_apply', plan: { add: 0, change: 0, destroy: 1, replace: 0 } },
    });
    assert.deepEqual(results.map((r) => [r.hook, r.ok, r.blocking, r.skipped ?? false]), [
      ['builtin.record', true, false, false], ['builtin.no_destroy', false, true, false], ['hook', false, false, true],
    ]);
    assert.equal(received.length, 0);
  });

  describe('what a hook may reach and name (issue 15)', () => {
    const none: HookPermissions = { grantedEnv: new Set(['STACKLY_HOOK_SECRET', 'STACKLY_HOOK_URL']), allowedCidrs: [] };
    for (const target of ['127.0.0.1', '169.254.169.254', '10.1.2.3', '192.168.0.1', '[::1]', '[::ffff:127.0.0.1]', '[fd00::1]', '0.0.0.0', '100.64.0.1']) {
      it(`refuses ${target} unless allow-listed, without sending`, async () => {
        const [r] = await runner(env, none).runHooks({ event: 'pre_plan', hooks: [{ ...web('x', '/ok'), url: `http://${target}:${new URL(base).port}/ok` }], context: ctx });
        assert.equal(r!.ok, false);
        assert.match(r!.message, /refused: .* is a (loopback|linkLocal|private|uniqueLocal|unspecified|carrierGradeNat) address \(an admin may allow it/);
        assert.equal(received.length, 0);
      });
    }

    it('allow-listed ranges are reached; another loopback address is not', async () => {
      const [ok] = await runner(env, { ...none, allowedCidrs: ['127.0.0.0/30'] }).runHooks({ event: 'pre_plan', hooks: [web('x', '/ok')], context: ctx });
      assert.equal(ok!.ok, true, ok!.message);
      const [no] = await runner(env, { ...none, allowedCidrs: ['127.0.0.2/32'] }).runHooks({ event: 'pre_plan', hooks: [web('x', '/ok')], context: ctx });
      assert.equal(no!.ok, false);
      assert.equal(received.length, 1);
    });

    it('a host name is refused when any address it resolves to is private (also behind a secret url_env)', async () => {
      const lookup: Lookup = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }];
      const [r] = await runner(env, none, lookup).runHooks({ event: 'pre_plan', hooks: [{ ...web('x', '/ok'), url: 'http://hooks.example.test/ok' }], context: ctx });
      assert.equal(r!.ok, false);
      assert.match(r!.message, /hooks\.example\.test refused: 10\.0\.0\.7 is a private address/);
      const [viaEnv] = await runner({ ...env, STACKLY_HOOK_URL: 'http://secret-host.example.test/t0ken' }, none, lookup).runHooks({
        event: 'pre_plan', hooks: [{ ...web('u', '/ok'), url: undefined, urlEnv: 'STACKLY_HOOK_URL' }], context: ctx,
      });
      assert.equal(viaEnv!.ok, false);
      assert.doesNotMatch(viaEnv!.message, /secret-host|t0ken/);
    });

    it('connects to the address it checked: a resolver that would answer differently later is not asked again', async () => {
      let asked = 0;
      // First answer: the allow-listed test server; any later answer would be the metadata address.
      const lookup: Lookup = async () => (asked++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]);
      const [r] = await runner(env, { ...none, allowedCidrs: ['127.0.0.1/32'] }, lookup).runHooks({
        event: 'pre_plan', hooks: [{ ...web('x', '/ok'), url: `http://rebind.example.test:${new URL(base).port}/ok` }], context: ctx,
      });
      assert.equal(r!.ok, true, r!.message);
      assert.equal(asked, 1);
      assert.equal(received.length, 1);
      assert.equal(received[0]!.headers.host, `rebind.example.test:${new URL(base).port}`);
    });

    it('a STACKLY_HOOK_* name not granted to the repository is refused before it is read', async () => {
      const onlyUrl: HookPermissions = { grantedEnv: new Set(['STACKLY_HOOK_URL']), allowedCidrs: ['127.0.0.1/32'] };
      const [r] = await runner(env, onlyUrl).runHooks({ event: 'pre_plan', hooks: [web('x', '/ok')], context: ctx });
      assert.equal(r!.ok, false);
      assert.match(r!.message, /secret_env STACKLY_HOOK_SECRET is not granted to this repository/);
      const [u] = await runner({ ...env, STACKLY_HOOK_URL: `${base}/ok` }, { grantedEnv: new Set(['STACKLY_HOOK_SECRET']), allowedCidrs: ['127.0.0.1/32'] }).runHooks({
        event: 'pre_plan', hooks: [{ ...web('u', '/ok'), url: undefined, urlEnv: 'STACKLY_HOOK_URL' }], context: ctx,
      });
      assert.match(u!.message, /url_env STACKLY_HOOK_URL is not granted/);
      assert.equal(received.length, 0);
    });

    it('without permissions (the run\'s owner unknown) every webhook hook is refused; built-ins still run', async () => {
      const results = await runner(env, { refused: 'run run-42 has no operation to tell its account and repository by' }).runHooks({
        event: 'pre_plan', hooks: [web('x', '/ok', { continueOnFailure: true }), BUILTIN_HOOKS['builtin.record']!], context: ctx,
      });
      assert.ok(results.some((r) => r.hook === 'builtin.record' && r.ok));
      assert.ok(results.some((r) => r.hook === 'x' && !r.ok && /refused: run run-42 has no operation/.test(r.message)));
      const noDb = await createHookActivities({ logger: pino({ level: 'silent' }), env }).runHooks({ event: 'pre_plan', hooks: [web('x', '/ok')], context: ctx });
      assert.match(noDb[0]!.message, /refused: this worker has no database/);
      assert.equal(received.length, 0);
    });
  });
});
