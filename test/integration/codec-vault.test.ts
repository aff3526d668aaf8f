/**
 * The codec against the real Vault (Transit), without Temporal: key versions, rotation, a missing key,
 * Vault's batch decrypt answers, a wrong token, health. Everything the unit tests' fake Transit must
 * not be trusted with.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  CodecError, META_DATA_KEY, createTransitClient, createVaultKeyring, ensureNamespaceKey, keyVersionOf,
  rotateNamespaceKey, transitKeyName,
} from '../../common/codec';
import { createLogger } from '../../common/logger';
import { buildCodecServer } from '../../codec-server/server';
import { freePort } from '../../scripts/services';
import * as h from '../harness/services';

const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v);
const fromPayload = (p: Payload) => defaultPayloadConverter.fromPayload(p);
const wrappedOf = (p: Payload) => Buffer.from(p.metadata![META_DATA_KEY]!).toString('utf8');
const uniqueNs = (what: string) => `codec-vault-${what}-${randomBytes(4).toString('hex')}`;

/** Rejects with a CodecError of `code` whose message matches `re` and holds none of `secrets`. */
function codecError(code: CodecError['code'], re: RegExp, secrets: string[] = []) {
  return (e: unknown) => {
    assert.ok(e instanceof CodecError, `expected a CodecError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    for (const s of secrets) assert.ok(!e.message.includes(s), 'the message leaks a secret');
    return true;
  };
}

describe('codec: Vault Transit behaviour (real Vault)', function () {
  this.timeout(120_000);
  let vaultAddr: string;
  let vaultToken: string;

  before(async () => {
    ({ addr: vaultAddr, token: vaultToken } = await h.vault());
  });

  const vaultPost = async (path: string, body: unknown) => {
    const r = await fetch(`${vaultAddr}/v1/${path}`, {
      method: 'POST', headers: { 'X-Vault-Token': vaultToken, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.ok(r.status < 300, `${path}: HTTP ${r.status} ${await r.text()}`);
  };

  it('ensureNamespaceKey creates temporal-<ns> once; payloads carry vault:v1 data keys and decode in another process', async () => {
    const ns = uniqueNs('basic');
    const first = await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    assert.deepEqual([first.name, first.latestVersion], [`temporal-${ns}`, 1]);
    const again = await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    assert.equal(again.latestVersion, 1, 'idempotent');

    const writer = createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    const secret = `pw-${randomBytes(6).toString('hex')}`;
    const sealed = await writer.encode([toPayload({ secret }), toPayload('x'.repeat(300_000)), toPayload(null)]);
    assert.equal(writer.dataKeysFetched, 1, 'one Vault round trip for the data key, not one per payload');
    for (const p of sealed) {
      assert.match(wrappedOf(p), /^vault:v1:/);
      assert.ok(!Buffer.from(p.data!).toString('latin1').includes(secret));
    }
    const reader = createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    assert.deepEqual((await reader.decode(sealed)).map(fromPayload), [{ secret }, 'x'.repeat(300_000), null]);
  });

  it('rotation: payloads written before decode after it; new data keys use the new version', async () => {
    const ns = uniqueNs('rotate');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    const keyring = createVaultKeyring({ vaultAddr, vaultToken });
    const codec = keyring.codec(ns);
    const before = await codec.encode([toPayload('old')]);
    assert.equal(keyVersionOf(wrappedOf(before[0]!)), 1);

    const info = await keyring.rotate(ns); // drops this process's cached data key
    assert.equal(info.latestVersion, 2);
    const after = await codec.encode([toPayload('new')]);
    assert.equal(keyVersionOf(wrappedOf(after[0]!)), 2);

    const fresh = createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    assert.deepEqual((await fresh.decode([...before, ...after])).map(fromPayload), ['old', 'new']);
  });

  it('rotation by another process: a running codec switches to the new version when its data key expires', async () => {
    const ns = uniqueNs('rotate-ttl');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    let now = 0;
    const codec = createVaultKeyring({ vaultAddr, vaultToken, now: () => now, dataKeyTtlMs: 60_000 }).codec(ns);
    assert.equal(keyVersionOf(wrappedOf((await codec.encode([toPayload(1)]))[0]!)), 1);
    const info = await rotateNamespaceKey({ vaultAddr, vaultToken, namespace: ns }); // the operator's command
    assert.equal(info.latestVersion, 2);
    now = 59_999;
    assert.equal(keyVersionOf(wrappedOf((await codec.encode([toPayload(2)]))[0]!)), 1, 'cached data key still in use');
    now = 60_000;
    assert.equal(keyVersionOf(wrappedOf((await codec.encode([toPayload(3)]))[0]!)), 2, 'fresh data key after the TTL');
  });

  it('raising min_decryption_version past a version makes its payloads unreadable (the documented consequence)', async () => {
    const ns = uniqueNs('mindec');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    const keyring = createVaultKeyring({ vaultAddr, vaultToken });
    const v1 = await keyring.codec(ns).encode([toPayload('v1')]);
    await keyring.rotate(ns);
    const v2 = await keyring.codec(ns).encode([toPayload('v2')]);
    await vaultPost(`transit/keys/${transitKeyName(ns)}/config`, { min_decryption_version: 2 });
    const fresh = () => createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    assert.deepEqual((await fresh().decode(v2)).map(fromPayload), ['v2']);
    await assert.rejects(fresh().decode([...v2, ...v1]), codecError('payload_invalid', /^payload 1: its data key could not be unwrapped/));
    // Lowering it again (the versions were not trimmed) makes them readable again.
    await vaultPost(`transit/keys/${transitKeyName(ns)}/config`, { min_decryption_version: 1 });
    assert.deepEqual((await fresh().decode([...v2, ...v1])).map(fromPayload), ['v2', 'v1']);
  });

  it('a namespace without a Transit key: encode and decode fail with an error naming namespace, key and mount', async () => {
    const ns = uniqueNs('nokey');
    const codec = createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    await assert.rejects(codec.encode([toPayload(1)]), codecError('namespace_key_missing', new RegExp(`namespace "${ns}" has no Transit key "temporal-${ns}" on mount "transit/"`)));
    // A sealed payload labelled with that namespace's key: Vault's decrypt finds no key.
    const other = uniqueNs('other');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: other });
    const [sealed] = await createVaultKeyring({ vaultAddr, vaultToken }).codec(other).encode([toPayload(1)]);
    const relabelled: Payload = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from(`temporal-${ns}`) } };
    await assert.rejects(codec.decode([relabelled]), codecError('namespace_key_missing', new RegExp(`namespace "${ns}"`)));
    // A Transit mount that does not exist: the same clear error, never a silent pass-through.
    const noMount = createVaultKeyring({ vaultAddr, vaultToken, transitMount: 'no-such-mount' }).codec(other);
    await assert.rejects(noMount.encode([toPayload(1)]), codecError('namespace_key_missing', /on mount "no-such-mount\/"/));
  });

  it("Vault's batch decrypt: one bad wrapped key fails its payload only (partial and all-failed batches)", async () => {
    const ns = uniqueNs('batch');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    const [good] = await createVaultKeyring({ vaultAddr, vaultToken }).codec(ns).encode([toPayload('good')]);
    const bogus: Payload = { ...good!, metadata: { ...good!.metadata, [META_DATA_KEY]: Buffer.from(`vault:v1:${randomBytes(60).toString('base64')}`) } };
    const transit = createTransitClient({ vaultAddr, vaultToken });
    // Partial failure: Vault answers 200 with a per-item error; all failed: 400 with batch_results.
    const partial = await transit.decryptBatch(transitKeyName(ns), [wrappedOf(good!), wrappedOf(bogus)]);
    assert.ok(Buffer.isBuffer(partial[0]) && partial[0].length === 32);
    assert.ok(!Buffer.isBuffer(partial[1]) && partial[1]!.error.length > 0);
    const allBad = await transit.decryptBatch(transitKeyName(ns), [wrappedOf(bogus), 'vault:v9:AAAA']);
    assert.ok(allBad.every((r) => !Buffer.isBuffer(r)));
    const fresh = () => createVaultKeyring({ vaultAddr, vaultToken }).codec(ns);
    await assert.rejects(fresh().decode([good!, bogus]), codecError('payload_invalid', /^payload 1: its data key could not be unwrapped/));
    await assert.rejects(fresh().decode([bogus]), codecError('payload_invalid', /^payload 0:/));
    assert.deepEqual((await fresh().decode([good!])).map(fromPayload), ['good']);
  });

  it('fails closed with a wrong Vault token or an unreachable Vault, and never names the token', async () => {
    const ns = uniqueNs('token');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    const [sealed] = await createVaultKeyring({ vaultAddr, vaultToken }).codec(ns).encode([toPayload('x')]);
    const badToken = `hvs.wrong-${randomBytes(8).toString('hex')}`;
    const wrong = createVaultKeyring({ vaultAddr, vaultToken: badToken });
    await assert.rejects(wrong.codec(ns).encode([toPayload(1)]), codecError('vault_error', /HTTP 403/, [badToken, vaultToken]));
    await assert.rejects(wrong.codec(ns).decode([sealed!]), codecError('vault_error', /HTTP 403/, [badToken, vaultToken]));
    const h1 = await wrong.health();
    assert.equal(h1.ok, false);
    assert.match((h1 as { reason: string }).reason, /token is not valid/);

    const down = createVaultKeyring({ vaultAddr: `http://127.0.0.1:${await freePort()}`, vaultToken });
    await assert.rejects(down.codec(ns).encode([toPayload(1)]), codecError('vault_unavailable', /unreachable/, [vaultToken]));
    assert.equal((await down.health()).ok, false);
    assert.deepEqual(await createVaultKeyring({ vaultAddr, vaultToken }).health(), { ok: true });
  });

  it('the codec server: /health follows Vault, and a wrong Vault token answers 502 (not plaintext)', async () => {
    const ns = uniqueNs('server');
    await ensureNamespaceKey({ vaultAddr, vaultToken, namespace: ns });
    const token = `codec-vault-${randomBytes(12).toString('hex')}`;
    const cfg = { CODEC_AUTH_TOKENS: [token], CODEC_CORS_ORIGINS: [], CODEC_BODY_LIMIT_BYTES: 1024 * 1024, CODEC_SESSION_TTL_SECONDS: 60 };
    const logger = createLogger('codec-server-test', 'silent');
    const apps: FastifyInstance[] = [];
    try {
      const start = async (vt: string) => {
        const app = await buildCodecServer(cfg, { keyring: createVaultKeyring({ vaultAddr, vaultToken: vt }), logger });
        apps.push(app);
        return app.listen({ host: '127.0.0.1', port: 0 });
      };
      const good = await start(vaultToken);
      const bad = await start('hvs.not-a-token');
      assert.equal((await fetch(`${good}/health`)).status, 200);
      const unhealthy = await fetch(`${bad}/health`);
      assert.equal(unhealthy.status, 503);
      assert.match(((await unhealthy.json()) as { reason: string }).reason, /token is not valid/);
      const body = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"s3cret"').toString('base64') }] });
      const r = await fetch(`${bad}/encode`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-namespace': ns, 'content-type': 'application/json' }, body });
      assert.equal(r.status, 502);
      const text = await r.text();
      assert.ok(!text.includes('s3cret') && !text.includes('hvs.not-a-token'));
      assert.equal(JSON.parse(text).error, 'vault_error');
    } finally {
      for (const a of apps) await a.close();
    }
  });
});
