import assert from 'node:assert/strict';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  CodecError, DataKeyRing, LruCache, META_DATA_KEY, META_KEY_NAME, createVaultKeyring, inspectPayload,
  keyVersionOf, transitKeyName,
} from '../../../common/codec';
import { createFakeTransit } from './fake-transit';

const NS = 'stackly-unit';
const KEY = transitKeyName(NS);
const text = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString('utf8');
const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v);
const fromPayload = (p: Payload) => defaultPayloadConverter.fromPayload(p);

function setup(opts: { now?: () => number; dataKeyMaxUses?: number; dataKeyTtlMs?: number; decodeCacheMaxKeys?: number } = {}) {
  const transit = createFakeTransit([KEY]);
  const keyring = createVaultKeyring({ vaultAddr: 'http://unused', vaultToken: 'unused', transit, ...opts });
  return { transit, keyring, codec: keyring.codec(NS) };
}

describe('codec: transitKeyName', () => {
  it('prefixes the namespace and keeps Temporal namespace characters', () => {
    assert.equal(transitKeyName('stackly'), 'temporal-stackly');
    assert.equal(transitKeyName('prod.eu-1_a'), 'temporal-prod.eu-1_a');
  });
  it('replaces characters that do not belong in a key name or URL path', () => {
    assert.equal(transitKeyName('a/b c?'), 'temporal-a_b_c_');
    assert.throws(() => transitKeyName(''), /empty/);
  });
  it('reads the key version of a wrapped key', () => {
    assert.equal(keyVersionOf('vault:v12:abc'), 12);
    assert.equal(keyVersionOf('nope'), undefined);
  });
});

describe('codec: AES-256-GCM envelope with Transit-wrapped data keys', () => {
  it('round-trips payloads of every size, and the ciphertext carries no plaintext', async () => {
    const { codec } = setup();
    const secret = 'hunter2-very-secret';
    const inputs = [toPayload({ password: secret }), toPayload(''), toPayload(undefined), toPayload('x'.repeat(300_000))];
    const encoded = await codec.encode(inputs);
    assert.equal(encoded.length, inputs.length);
    for (const p of encoded) {
      assert.equal(text(p, 'encoding'), 'binary/encrypted');
      assert.equal(text(p, META_KEY_NAME), KEY);
      assert.ok(text(p, META_DATA_KEY).length > 0);
      assert.ok(!Buffer.from(p.data!).toString('latin1').includes(secret));
    }
    const decoded = await codec.decode(encoded);
    assert.deepEqual(decoded.map(fromPayload), [{ password: secret }, '', undefined, 'x'.repeat(300_000)]);
    assert.equal(text(decoded[0]!, 'encoding'), 'json/plain');
  });

  it('encrypts the same value differently each time (random IV)', async () => {
    const { codec } = setup();
    const [a, b] = await codec.encode([toPayload('same'), toPayload('same')]);
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
  });

  it('passes payloads that are not encrypted through unchanged, without calling Vault', async () => {
    const { codec, transit } = setup();
    const plain = [toPayload({ a: 1 }), { metadata: { encoding: Buffer.from('binary/null') } }];
    const out = await codec.decode(plain);
    assert.deepEqual(out, plain);
    assert.equal(transit.calls.decryptBatch, 0);
  });

  it('a strict codec (workers) refuses a payload that is not encrypted, and reads what a lenient one wrote', async () => {
    const { keyring, transit } = setup();
    const strict = keyring.codec(NS, { requireEncrypted: true });
    await assert.rejects(strict.decode([toPayload({ forged: 'approve' })]), /payload 0: not encrypted; this worker accepts only payloads sealed with namespace key "temporal-/);
    await assert.rejects(strict.decode([{ metadata: { encoding: Buffer.from('binary/null') } }]), /payload 0: not encrypted/);
    assert.equal(transit.calls.decryptBatch, 0);
    // One sealed and one plain payload together: refused as a whole, naming the plain one.
    const [sealed] = await keyring.codec(NS).encode([toPayload('ok')]);
    await assert.rejects(strict.decode([sealed!, toPayload('plain')]), /payload 1: not encrypted/);
    // What the api's lenient codec writes, the strict one reads, and the other way round.
    assert.equal(fromPayload((await strict.decode([sealed!]))[0]!), 'ok');
    const [back] = await strict.encode([toPayload('reply')]);
    assert.equal(fromPayload((await keyring.codec(NS).decode([back!]))[0]!), 'reply');
    assert.notEqual(strict, keyring.codec(NS));
    assert.equal(strict, keyring.codec(NS, { requireEncrypted: true }));
  });

  it('fails a tampered payload with an error naming its index, not its content', async () => {
    const { codec } = setup();
    const encoded = await codec.encode([toPayload('first'), toPayload('second-secret')]);
    const bad = Buffer.from(encoded[1]!.data!);
    bad[20] = bad[20]! ^ 0xff;
    encoded[1] = { ...encoded[1]!, data: bad };
    await assert.rejects(codec.decode(encoded), (e: unknown) => {
      assert.ok(e instanceof CodecError);
      assert.equal(e.code, 'payload_invalid');
      assert.equal(e.payloadIndex, 1);
      assert.match(e.message, /^payload 1: authentication failed/);
      assert.ok(!e.message.includes('second-secret'));
      return true;
    });
  });

  it('fails when the metadata (key name or wrapped key) was swapped: both are authenticated', async () => {
    const { codec } = setup();
    const [a, b] = await codec.encode([toPayload('a'), toPayload('b')]);
    codec.invalidateDataKey();
    const [c] = await codec.encode([toPayload('c')]);
    // b's ciphertext under c's wrapped key: unwraps fine, then GCM authentication fails.
    const swapped: Payload = { metadata: { ...b!.metadata, [META_DATA_KEY]: c!.metadata![META_DATA_KEY]! }, data: b!.data };
    await assert.rejects(codec.decode([a!, swapped]), /payload 1: authentication failed/);
  });

  it('refuses a payload sealed with another namespace key, and truncated or foreign-labelled ones', async () => {
    const { keyring, transit } = setup();
    await transit.createKey(transitKeyName('other'));
    const [other] = await keyring.codec('other').encode([toPayload('x')]);
    await assert.rejects(keyring.codec(NS).decode([toPayload(1), other!]), /payload 1: encrypted with key "temporal-other"/);
    const [mine] = await keyring.codec(NS).encode([toPayload('y')]);
    await assert.rejects(keyring.codec(NS).decode([{ ...mine!, data: new Uint8Array(5) }]), /payload 0: ciphertext too short/);
    await assert.rejects(keyring.codec(NS).decode([{ metadata: { encoding: Buffer.from('binary/encrypted') }, data: new Uint8Array(40) }]), /payload 0: .*no stackly-codec label/);
  });

  it('unwraps the distinct data keys of one request in one batch call, then serves them from the cache', async () => {
    const { codec, transit } = setup({ dataKeyMaxUses: 2 });
    const encoded = await codec.encode([1, 2, 3, 4, 5].map(toPayload)); // 3 data keys
    assert.equal(transit.calls.datakey, 3);
    const fresh = createVaultKeyring({ vaultAddr: 'x', vaultToken: 'x', transit }).codec(NS);
    assert.deepEqual((await fresh.decode(encoded)).map(fromPayload), [1, 2, 3, 4, 5]);
    assert.equal(transit.calls.decryptBatch, 1);
    assert.equal(transit.calls.decryptItems, 3);
    await fresh.decode(encoded);
    assert.equal(transit.calls.decryptBatch, 1, 'second decode uses cached keys');
  });

  it('concurrent decodes sharing an unwrap both fail when Transit fails, with no unhandled rejection', async () => {
    const { codec, transit } = setup();
    const encoded = await codec.encode([toPayload('a')]);
    codec.invalidateDataKey();
    const other = await codec.encode([toPayload('b')]);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      transit.decryptBatch = async () => {
        await new Promise((r) => setTimeout(r, 20));
        throw new CodecError('vault_unavailable', 'Vault unreachable (test)');
      };
      const fresh = createVaultKeyring({ vaultAddr: 'x', vaultToken: 'x', transit }).codec(NS);
      // The second call waits on the first one's unwrap of key A and fetches key B itself.
      const results = await Promise.allSettled([fresh.decode(encoded), fresh.decode([...other, ...encoded])]);
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('codec: bounded key caches', () => {
  it('a data key encrypts at most maxUses payloads', async () => {
    let n = 0;
    const ring = new DataKeyRing(async () => ({ plaintext: Buffer.alloc(32, ++n), ciphertext: `vault:v1:${n}` }), 60_000, 3);
    const used = [];
    for (let i = 0; i < 7; i++) used.push((await ring.acquire()).wrapped);
    assert.deepEqual(used, ['vault:v1:1', 'vault:v1:1', 'vault:v1:1', 'vault:v1:2', 'vault:v1:2', 'vault:v1:2', 'vault:v1:3']);
    assert.equal(ring.fetched, 3);
  });

  it('a data key is dropped after its time to live', async () => {
    let t = 0;
    let n = 0;
    const ring = new DataKeyRing(async () => ({ plaintext: Buffer.alloc(32), ciphertext: `k${++n}` }), 1000, 100, () => t);
    assert.equal((await ring.acquire()).wrapped, 'k1');
    t = 999;
    assert.equal((await ring.acquire()).wrapped, 'k1');
    t = 1000;
    assert.equal((await ring.acquire()).wrapped, 'k2');
  });

  it('concurrent encoders share one data key fetch', async () => {
    let n = 0;
    const ring = new DataKeyRing(async () => {
      await new Promise((r) => setTimeout(r, 10));
      return { plaintext: Buffer.alloc(32), ciphertext: `k${++n}` };
    }, 60_000, 100);
    const got = await Promise.all(Array.from({ length: 20 }, () => ring.acquire()));
    assert.equal(ring.fetched, 1);
    assert.ok(got.every((g) => g.wrapped === 'k1'));
  });

  it('the decode cache is an LRU bounded in size and time', () => {
    let t = 0;
    const c = new LruCache<number>(2, 100, () => t);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1); // a is now most recent
    c.set('c', 3); // evicts b
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), 1);
    assert.equal(c.size, 2);
    t = 100;
    assert.equal(c.get('c'), undefined, 'expired');
  });

  it('inspectPayload tells plain, sealed and foreign apart', async () => {
    const { codec } = setup();
    assert.equal(inspectPayload(toPayload(1)).kind, 'plain');
    const [s] = await codec.encode([toPayload(1)]);
    assert.equal(inspectPayload(s!).kind, 'sealed');
  });
});
