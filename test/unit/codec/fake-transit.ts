/** An in-memory stand-in for Vault Transit: wraps data keys with a per-version key, like Transit does. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CodecError, type KeyInfo, type TransitClient } from '../../../common/codec';

export interface FakeTransit extends TransitClient {
  calls: { datakey: number; decryptBatch: number; decryptItems: number };
  keys: Map<string, Buffer[]>;
}

export function createFakeTransit(keyNames: string[] = []): FakeTransit {
  const keys = new Map<string, Buffer[]>(keyNames.map((k) => [k, [randomBytes(32)]]));
  const calls = { datakey: 0, decryptBatch: 0, decryptItems: 0 };
  const missing = (k: string) => new CodecError('namespace_key_missing', `Transit key "${k}" does not exist`);
  const info = (name: string): KeyInfo => ({ name, latestVersion: keys.get(name)!.length, minDecryptionVersion: 1, minEncryptionVersion: 0 });

  function wrap(name: string, plain: Buffer): string {
    const versions = keys.get(name)!;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', versions[versions.length - 1]!, iv);
    const body = Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]);
    return `vault:v${versions.length}:${body.toString('base64')}`;
  }
  function unwrap(name: string, ct: string): Buffer | { error: string } {
    const m = /^vault:v(\d+):(.*)$/.exec(ct);
    const key = m ? keys.get(name)![Number(m[1]) - 1] : undefined;
    if (!m || !key) return { error: 'invalid ciphertext' };
    const body = Buffer.from(m[2]!, 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', key, body.subarray(0, 12));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
    } catch {
      return { error: 'cipher: message authentication failed' };
    }
  }

  return {
    mount: 'transit',
    calls,
    keys,
    async generateDataKey(name) {
      if (!keys.has(name)) throw missing(name);
      calls.datakey += 1;
      const plaintext = randomBytes(32);
      return { plaintext, ciphertext: wrap(name, plaintext) };
    },
    async decryptBatch(name, cts) {
      if (!keys.has(name)) throw missing(name);
      calls.decryptBatch += 1;
      calls.decryptItems += cts.length;
      return cts.map((ct) => unwrap(name, ct));
    },
    async rotateKey(name) {
      if (!keys.has(name)) throw missing(name);
      keys.get(name)!.push(randomBytes(32));
      return info(name);
    },
    async readKey(name) {
      return keys.has(name) ? info(name) : undefined;
    },
    async createKey(name) {
      if (!keys.has(name)) keys.set(name, [randomBytes(32)]);
    },
    async health() {
      return { ok: true };
    },
  };
}
