/**
 * The Vault Transit codec end to end, with the real Temporal dev server (Web UI on), the real Vault,
 * the `temporal` CLI and headless Chromium:
 *  - raw history has no plaintext; through the codec server (CLI --codec-endpoint) it has;
 *  - the Web UI shows the input decoded, via the browser session made at the codec server's /login;
 *  - key rotation: old payloads still decode, new ones carry the new key version;
 *  - bad input: 401, a namespace without a key, malformed and tampered payloads.
 * Needs /usr/bin/chromium (Debian's `chromium` package); the screenshot goes to test-output/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Payload } from '@temporalio/common';
import { chromium } from 'playwright-core';
import {
  META_DATA_KEY, createTransitClient, createVaultCodec, createVaultKeyring, dataConverterFor, ensureNamespaceKey, keyVersionOf,
  rotateNamespaceKey, type NamespaceCodec,
} from '../../common/codec';
import { createLogger } from '../../common/logger';
import { buildCodecServer } from '../../codec-server/server';
import { payloadsFromJson, payloadsToJson, type JsonPayload } from '../../codec-server/payloads';
import { REPO_ROOT, freePort, startTemporal, type TemporalService } from '../../scripts/services';
import { createCodecTestActivities } from './codec/activities';
import * as h from '../harness/services';

const run = promisify(execFile);
const TOKEN = `codec-it-${randomBytes(12).toString('hex')}`;
const NS = 'stackly-codec-it';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Every payload-shaped object in `temporal workflow show --output json`. */
function payloadsIn(node: unknown, out: JsonPayload[] = []): JsonPayload[] {
  if (Array.isArray(node)) node.forEach((x) => payloadsIn(x, out));
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && !Array.isArray(o.metadata) && 'encoding' in (o.metadata as object)) {
      out.push({ metadata: o.metadata as Record<string, string>, data: typeof o.data === 'string' ? o.data : undefined });
    } else Object.values(o).forEach((x) => payloadsIn(x, out));
  }
  return out;
}
const dataText = (p: JsonPayload) => (p.data ? Buffer.from(p.data, 'base64').toString('utf8') : '');
const metaText = (p: JsonPayload, k: string) => (p.metadata?.[k] ? Buffer.from(p.metadata[k]!, 'base64').toString('utf8') : undefined);

describe('codec: Vault Transit codec with real Temporal, Vault, CLI and Web UI', function () {
  this.timeout(300_000);

  let vaultAddr: string;
  let vaultToken: string;
  let temporalBin: string;
  let t: TemporalService;
  let app: FastifyInstance;
  let codecUrl: string;
  let codec: NamespaceCodec;
  let worker: Worker;
  let workerRun: Promise<void>;
  let nc: NativeConnection;
  let conn: Connection;
  let client: Client;
  const taskQueue = 'codec-it';
  const secret = `S3cr3t-${randomBytes(8).toString('hex')}`;
  let firstWorkflowId = '';
  /** The namespace key's latest version when the suite starts (1 on a fresh Vault; more when reusing one). */
  let v0 = 0;

  async function runWorkflow(id: string, password: string) {
    return client.workflow.execute('codecTestWorkflow', {
      taskQueue, workflowId: id, args: [{ stack: 'network', variables: { db_password: password, region: 'eu' } }],
    });
  }

  async function show(workflowId: string, withCodec: boolean): Promise<{ text: string; payloads: JsonPayload[] }> {
    const args = ['workflow', 'show', '-w', workflowId, '--address', t.address, '-n', NS, '--output', 'json'];
    if (withCodec) args.push('--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${TOKEN}`);
    const { stdout } = await run(temporalBin, args, { maxBuffer: 64 * 1024 * 1024 });
    return { text: stdout, payloads: payloadsIn(JSON.parse(stdout)) };
  }

  before(async () => {
    const v = await h.vault();
    vaultAddr = v.addr;
    vaultToken = v.token;
    v0 = (await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: NS })).latestVersion;
    temporalBin = await h.tool('temporal');
    const uiPort = await freePort();
    const keyring = createVaultKeyring({ vaultAddr, vaultToken });
    app = await buildCodecServer(
      { CODEC_AUTH_TOKENS: [TOKEN], CODEC_CORS_ORIGINS: [`http://127.0.0.1:${uiPort}`], CODEC_BODY_LIMIT_BYTES: 4 * 1024 * 1024, CODEC_SESSION_TTL_SECONDS: 3600 },
      { keyring, logger: createLogger('codec-server-test', 'warn') },
    );
    codecUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    t = await startTemporal({
      bin: temporalBin, stateDir: join(h.testStateDir(), 'codec-temporal'), namespace: NS, uiPort, headless: false, codecEndpoint: codecUrl,
    });
    // Clients and workers use their own codec (as separate processes would), not the server's keyring.
    codec = createVaultCodec({ vaultAddr, vaultToken, namespace: NS });
    const dataConverter = dataConverterFor(codec);
    nc = await NativeConnection.connect({ address: t.address });
    worker = await Worker.create({
      connection: nc, namespace: NS, taskQueue, dataConverter,
      workflowsPath: require.resolve('./codec/workflows'), activities: createCodecTestActivities(),
    });
    workerRun = worker.run();
    conn = await Connection.connect({ address: t.address });
    client = new Client({ connection: conn, namespace: NS, dataConverter });
  });

  after(async () => {
    if (worker) {
      worker.shutdown();
      await workerRun.catch(() => undefined);
    }
    await conn?.close();
    await nc?.close();
    await app?.close();
    await t?.stop();
  });

  it('stores no plaintext in the history; the CLI through the codec server shows it', async () => {
    firstWorkflowId = `codec-it-${Date.now()}`;
    const result = await runWorkflow(firstWorkflowId, secret);
    assert.equal(result.outputs.connection_string, `postgres://app:${secret}@db/app`);

    const raw = await show(firstWorkflowId, false);
    assert.ok(raw.payloads.length >= 4, `found ${raw.payloads.length} payloads in the raw history`);
    assert.ok(!raw.text.includes(secret), 'raw history JSON has no plaintext');
    for (const p of raw.payloads) {
      assert.equal(metaText(p, 'encoding'), 'binary/encrypted');
      assert.ok(!dataText(p).includes(secret), 'no payload data holds the plaintext');
      assert.equal(keyVersionOf(metaText(p, META_DATA_KEY) ?? ''), v0, 'the wrapped data key names the Transit key version');
    }

    const decoded = await show(firstWorkflowId, true);
    const texts = decoded.payloads.map(dataText);
    assert.ok(texts.some((x) => x.includes(`"db_password":"${secret}"`)), 'the workflow input decodes');
    assert.ok(texts.some((x) => x.includes(`postgres://app:${secret}@db/app`)), 'the activity result decodes');
    assert.ok(decoded.payloads.every((p) => metaText(p, 'encoding') !== 'binary/encrypted'));
  });

  it('encrypts failure messages too (an error quoting a variable)', async () => {
    const id = `codec-it-fail-${Date.now()}`;
    await assert.rejects(
      client.workflow.execute('codecTestWorkflow', {
        taskQueue, workflowId: id, args: [{ stack: 'network', variables: { db_password: secret, fail: 'yes' } }],
      }),
      (e: Error & { cause?: { cause?: Error } }) => {
        assert.match(String(e.cause?.cause?.message), new RegExp(`password ${secret} rejected`), 'the client decodes the message');
        return true;
      },
    );
    const raw = await show(id, false);
    assert.ok(!raw.text.includes(secret), 'no plaintext failure message in the raw history');
    assert.ok(raw.payloads.every((p) => !dataText(p).includes(secret)));
    assert.match(raw.text, /Encoded failure/);
    const decoded = await show(id, true);
    assert.ok(decoded.payloads.some((p) => dataText(p).includes(`password ${secret} rejected`)), 'the CLI decodes it');
  });

  it('shows the input decoded in the Web UI of the dev server, for a browser signed in at /login only', async () => {
    assert.ok(firstWorkflowId, 'needs the first test');
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/ensure-chromium.sh (Debian's chromium) or set CHROMIUM_PATH`);
    const outDir = join(REPO_ROOT, 'test-output');
    mkdirSync(outDir, { recursive: true });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const open = async (signIn: boolean, shot: string) => {
        const ctx = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
        const page = await ctx.newPage();
        if (signIn) {
          // The operator opens the codec server's login page once and pastes a token.
          await page.goto(`${codecUrl}/login`, { waitUntil: 'load' });
          await page.fill('input[name=token]', TOKEN);
          await page.click('button[type=submit]');
          await page.waitForSelector('#signed-in');
          assert.match(await page.innerText('body'), /This browser may now decode payloads/);
        }
        // The operator's codec settings in the UI (kept in the browser's localStorage): the endpoint,
        // "Include cross-origin credentials" on, and the browser settings preferred over the server's.
        await page.goto(t.uiUrl!, { waitUntil: 'load' });
        await page.evaluate((endpoint) => {
          localStorage.setItem('endpoint', JSON.stringify(endpoint));
          localStorage.setItem('includeCredentials', 'true');
          localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
        }, codecUrl);
        const decodes: number[] = [];
        page.on('response', (r) => {
          if (r.url() === `${codecUrl}/decode`) decodes.push(r.status());
        });
        await page.goto(`${t.uiUrl}/namespaces/${NS}/workflows/${firstWorkflowId}`, { waitUntil: 'load' });
        await page.waitForTimeout(5000); // the UI polls for ever: no networkidle
        await page.screenshot({ path: join(outDir, shot), fullPage: true });
        const text = await page.innerText('body');
        await ctx.close();
        return { text, decodes };
      };

      const signedIn = await open(true, 'codec-web-ui.png');
      assert.ok(signedIn.decodes.length > 0 && signedIn.decodes.every((s) => s === 200), `decode answers: ${signedIn.decodes.join(',')}`);
      assert.ok(signedIn.text.includes(secret), 'the input (and result) show decoded');
      assert.match(signedIn.text, /"db_password": "S3cr3t-/);

      const anonymous = await open(false, 'codec-web-ui-not-signed-in.png');
      assert.ok(anonymous.decodes.length > 0 && anonymous.decodes.every((s) => s === 401), `decode answers: ${anonymous.decodes.join(',')}`);
      assert.ok(!anonymous.text.includes(secret), 'a browser without the session sees no plaintext');
    } finally {
      await browser.close();
    }
  });

  it('decodes payloads written before a key rotation; new payloads use the new key version', async () => {
    assert.ok(firstWorkflowId, 'needs the first test');
    const info = await rotateNamespaceKey({ vaultAddr, vaultToken, namespace: NS });
    assert.equal(info.latestVersion, v0 + 1);
    // Running processes switch when their cached data key expires (5 min); the test does not wait.
    codec.invalidateDataKey();
    const secondId = `codec-it-rotated-${Date.now()}`;
    const secret2 = `S3cr3t-${randomBytes(8).toString('hex')}`;
    await runWorkflow(secondId, secret2);

    const rawNew = await show(secondId, false);
    assert.ok(rawNew.payloads.length >= 4);
    assert.ok(rawNew.payloads.every((p) => keyVersionOf(metaText(p, META_DATA_KEY) ?? '') === v0 + 1), 'new payloads: the new version');
    const rawOld = await show(firstWorkflowId, false);
    assert.ok(rawOld.payloads.every((p) => keyVersionOf(metaText(p, META_DATA_KEY) ?? '') === v0), 'old payloads keep the old version');

    // A process that never saw the old data keys (empty cache) decodes both through Vault.
    const fresh = createVaultCodec({ vaultAddr, vaultToken, namespace: NS });
    const oldPlain = (await fresh.decode(payloadsFromJson({ payloads: rawOld.payloads }))).map((p: Payload) => Buffer.from(p.data ?? []).toString());
    const newPlain = (await fresh.decode(payloadsFromJson({ payloads: rawNew.payloads }))).map((p: Payload) => Buffer.from(p.data ?? []).toString());
    assert.ok(oldPlain.some((x) => x.includes(secret)));
    assert.ok(newPlain.some((x) => x.includes(secret2)));
    // And the codec server still serves the old history to the CLI.
    assert.ok((await show(firstWorkflowId, true)).payloads.some((p) => dataText(p).includes(secret)));
  });

  describe('bad input against the codec server (real Vault)', () => {
    const post = (path: string, body: string, headers: Record<string, string>) =>
      fetch(`${codecUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const bearer = () => ({ authorization: `Bearer ${TOKEN}`, 'x-namespace': NS });
    const sample = () => JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(`"${secret}"`).toString('base64') }] });

    it('401 for a missing or wrong token', async () => {
      assert.equal((await post('/decode', sample(), { 'x-namespace': NS })).status, 401);
      const wrong = await post('/decode', sample(), { 'x-namespace': NS, authorization: 'Bearer not-the-token-0123456789' });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as { error: string }).error, 'unauthorized');
    });

    it('a namespace without a Transit key: 404 naming the namespace, for encode and decode', async () => {
      const enc = await post('/encode', sample(), { ...bearer(), 'x-namespace': 'no-key-here' });
      assert.equal(enc.status, 404);
      const j = (await enc.json()) as { error: string; message: string };
      assert.equal(j.error, 'namespace_key_missing');
      assert.match(j.message, /namespace "no-key-here" has no Transit key "temporal-no-key-here"/);
      // A payload labelled with that namespace's key reaches Vault's decrypt, which finds no key.
      const sealed = payloadsToJson(await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') }]));
      sealed.payloads[0]!.metadata!['encryption-key-id'] = Buffer.from('temporal-no-key-here').toString('base64');
      const dec = await post('/decode', JSON.stringify(sealed), { ...bearer(), 'x-namespace': 'no-key-here' });
      assert.equal(dec.status, 404);
      assert.match(((await dec.json()) as { message: string }).message, /namespace "no-key-here"/);
    });

    it('malformed and tampered payloads fail with the payload index; the server keeps serving', async () => {
      const malformed = await post('/decode', '{"payloads":[{"data":"%%%"}]}', bearer());
      assert.equal(malformed.status, 400);
      const enc = (await (await post('/encode', sample(), bearer())).json()) as ReturnType<typeof payloadsToJson>;
      const ok = enc.payloads[0]!;
      const data = Buffer.from(ok.data!, 'base64');
      data[15] = data[15]! ^ 0x01;
      const tampered = { ...ok, data: data.toString('base64') };
      const badKey = { ...ok, metadata: { ...ok.metadata, [META_DATA_KEY]: Buffer.from('vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').toString('base64') } };
      for (const [i, body] of [[1, [ok, tampered]], [2, [ok, ok, badKey]]] as const) {
        const r = await post('/decode', JSON.stringify({ payloads: body }), bearer());
        assert.equal(r.status, 400);
        const j = (await r.json()) as { payloadIndex: number; message: string };
        assert.equal(j.payloadIndex, i);
        assert.ok(!j.message.includes(secret));
      }
      const next = await post('/decode', JSON.stringify(enc), bearer());
      assert.equal(next.status, 200);
      assert.equal(dataText(((await next.json()) as ReturnType<typeof payloadsToJson>).payloads[0]!), `"${secret}"`);
    });

    it('/health is 200 with Vault up', async () => {
      const r = await fetch(`${codecUrl}/health`);
      assert.equal(r.status, 200);
      assert.ok((await createTransitClient({ vaultAddr, vaultToken }).health()).ok);
    });
  });
});
