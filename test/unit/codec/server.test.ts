import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { defaultPayloadConverter } from '@temporalio/common';
import pino from 'pino';
import { createVaultKeyring, transitKeyName } from '../../../common/codec';
import { buildCodecServer } from '../../../codec-server/server';
import { payloadsToJson } from '../../../codec-server/payloads';
import { createFakeTransit } from './fake-transit';

const TOKEN = 'unit-test-token-0123456789';
const UI = 'http://127.0.0.1:8233';
const NS = 'unit-ns';

describe('codec server (HTTP, fake Transit)', () => {
  let app: FastifyInstance;
  let base: string;
  let healthy = true;
  const logLines: string[] = [];

  before(async () => {
    const transit = createFakeTransit([transitKeyName(NS)]);
    const keyring = createVaultKeyring({ vaultAddr: 'x', vaultToken: 'x', transit });
    const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });
    app = await buildCodecServer(
      { CODEC_AUTH_TOKENS: [TOKEN, 'second-token-abcdefghij'], CODEC_CORS_ORIGINS: [UI], CODEC_BODY_LIMIT_BYTES: 64 * 1024, CODEC_SESSION_TTL_SECONDS: 3600 },
      { keyring: { codec: keyring.codec, health: async () => (healthy ? { ok: true } : { ok: false, reason: 'Vault is sealed' }) }, logger },
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  const body = (values: unknown[]) => JSON.stringify(payloadsToJson(values.map((v) => defaultPayloadConverter.toPayload(v))));
  const post = (path: string, b: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': NS, ...headers }, body: b });
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('round-trips through /encode and /decode with a bearer token', async () => {
    const enc = await post('/encode', body([{ secret: 'p4ss' }, 'x']), auth);
    assert.equal(enc.status, 200);
    const encoded = await enc.text();
    const sealed = (JSON.parse(encoded) as ReturnType<typeof payloadsToJson>).payloads;
    assert.ok(sealed.every((p) => !Buffer.from(p.data!, 'base64').toString('latin1').includes('p4ss')));
    const dec = await post('/decode', encoded, auth);
    assert.equal(dec.status, 200);
    const out = (await dec.json()) as ReturnType<typeof payloadsToJson>;
    assert.equal(Buffer.from(out.payloads[0]!.data!, 'base64').toString(), '{"secret":"p4ss"}');
    assert.ok(logLines.every((l) => !l.includes('p4ss') && !l.includes(TOKEN)), 'no payload or token in the log');
  });

  it('401 with a JSON error for a missing or wrong token', async () => {
    const variants: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: TOKEN }];
    for (const h of variants) {
      const r = await post('/decode', body([1]), h);
      assert.equal(r.status, 401);
      const j = (await r.json()) as { error: string; message: string };
      assert.equal(j.error, 'unauthorized');
      assert.ok(!j.message.includes(TOKEN));
    }
  });

  it('answers the CORS preflight for allowed origins only, with credentials', async () => {
    const pre = (origin: string) => fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    const ok = await pre(UI);
    assert.equal(ok.headers.get('access-control-allow-origin'), UI);
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);
    const bad = await pre('http://evil.example');
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
  });

  it('a browser session from /login works from an allowed origin only', async () => {
    const wrong = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nope', redirect: 'manual' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
    assert.equal(login.status, 200);
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    assert.equal((await post('/decode', body([1]), { cookie, origin: UI })).status, 200);
    assert.equal((await post('/decode', body([1]), { cookie, origin: 'http://evil.example' })).status, 401);
    assert.equal((await post('/decode', body([1]), { cookie })).status, 401, 'no Origin: not a browser call from the UI');
    assert.equal((await post('/decode', body([1]), { cookie: 'stackly_codec_session=forged', origin: UI })).status, 401);
    await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } });
    assert.equal((await post('/decode', body([1]), { cookie, origin: UI })).status, 401, 'revoked');
  });

  it('400 for malformed bodies without echoing them, 413 for oversized ones', async () => {
    const bad = await post('/decode', '{"payloads": [secret-not-json', auth);
    assert.equal(bad.status, 400);
    assert.ok(!(await bad.text()).includes('secret'));
    const notArray = await post('/decode', '{"payloads": 3}', auth);
    assert.equal(notArray.status, 400);
    const badB64 = await post('/decode', JSON.stringify({ payloads: [{ metadata: {} }, { metadata: { encoding: '@@' } }] }), auth);
    assert.equal(badB64.status, 400);
    assert.equal(((await badB64.json()) as { payloadIndex: number }).payloadIndex, 1);
    const big = await post('/encode', body(['x'.repeat(100 * 1024)]), auth);
    assert.equal(big.status, 413);
  });

  it('400 without X-Namespace or with an invalid one', async () => {
    const none = await fetch(`${base}/encode`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: body([1]) });
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { message: string }).message, /X-Namespace/);
    const invalid = await post('/encode', body([1]), { ...auth, 'x-namespace': '../sys' });
    assert.equal(invalid.status, 400);
  });

  it('a tampered payload fails that request with its index; the next request is served', async () => {
    const enc = (await (await post('/encode', body(['a', 'b-secret']), auth)).json()) as ReturnType<typeof payloadsToJson>;
    const data = Buffer.from(enc.payloads[1]!.data!, 'base64');
    data[data.length - 1] = data[data.length - 1]! ^ 1;
    enc.payloads[1]!.data = data.toString('base64');
    const r = await post('/decode', JSON.stringify(enc), auth);
    assert.equal(r.status, 400);
    const j = (await r.json()) as { error: string; message: string; payloadIndex: number };
    assert.equal(j.payloadIndex, 1);
    assert.match(j.message, /^payload 1: authentication failed/);
    assert.equal((await post('/decode', body(['next']), auth)).status, 200);
  });

  it('/health reflects Vault', async () => {
    assert.equal((await fetch(`${base}/health`)).status, 200);
    healthy = false;
    const r = await fetch(`${base}/health`);
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), { status: 'unavailable', reason: 'Vault is sealed' });
    healthy = true;
  });
});

describe('codec server: Stackly credentials decode only their accounts\' namespaces (fake Transit)', () => {
  let app: FastifyInstance;
  let base: string;
  const A = 'stackly-a';
  const B = 'stackly-b';
  const KEY_A = 'stk_aaaaaaaaaa_' + 'a'.repeat(43);
  const revoked = new Set<string>();

  before(async () => {
    const transit = createFakeTransit([transitKeyName(A), transitKeyName(B)]);
    const keyring = createVaultKeyring({ vaultAddr: 'x', vaultToken: 'x', transit });
    app = await buildCodecServer(
      { CODEC_AUTH_TOKENS: undefined, CODEC_CORS_ORIGINS: [UI], CODEC_BODY_LIMIT_BYTES: 64 * 1024, CODEC_SESSION_TTL_SECONDS: 3600 },
      {
        keyring: { codec: keyring.codec, health: async () => ({ ok: true }) }, logger: pino({ level: 'silent' }),
        // As common/credentials.ts answers: who, and the namespaces of their accounts; an error with a status otherwise.
        credentials: async (t) => {
          if (t === KEY_A && !revoked.has(t)) return { name: 'alice', namespaces: [A] };
          throw Object.assign(new Error(revoked.has(t) ? 'API key aaaaaaaaaa was revoked' : 'invalid API key'), { status: 401 });
        },
      },
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  const payloads = JSON.stringify(payloadsToJson([defaultPayloadConverter.toPayload({ x: 1 })]));
  const post = (path: string, ns: string, headers: Record<string, string>) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': ns, ...headers }, body: payloads });

  it('an API key encodes and decodes its own namespace and gets 403 naming any other', async () => {
    const auth = { authorization: `Bearer ${KEY_A}` };
    assert.equal((await post('/encode', A, auth)).status, 200);
    const r = await post('/decode', B, auth);
    assert.equal(r.status, 403);
    const j = (await r.json()) as { error: string; message: string };
    assert.equal(j.error, 'forbidden');
    assert.match(j.message, /alice may not decode payloads of namespace stackly-b/);
    assert.equal((await post('/decode', A, { authorization: 'Bearer stk_bbbbbbbbbb_' + 'b'.repeat(43) })).status, 401);
  });

  it('a browser session made with an API key has the key\'s namespaces, and ends when the key is revoked', async () => {
    const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${KEY_A}` });
    assert.equal(login.status, 200);
    assert.match(await login.text(), /the namespaces stackly-a/);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const asUi = { cookie, origin: UI };
    assert.equal((await post('/decode', A, asUi)).status, 200);
    assert.equal((await post('/decode', B, asUi)).status, 403);
    revoked.add(KEY_A);
    const r = await post('/decode', A, asUi);
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { message: string }).message, /revoked/);
  });
});
