/**
 * The envelope format: one payload encrypted with AES-256-GCM under a data key. Pure and
 * synchronous; no Vault here.
 *
 * Encrypted payload:
 *   metadata.encoding            = "binary/encrypted"
 *   metadata["stackly-codec"]    = "vault-transit/v1"
 *   metadata["encryption-key-id"]= Transit key name (one per namespace)
 *   metadata["stackly-data-key"] = the wrapped data key, Transit ciphertext "vault:vN:…" (N = key version)
 *   data                         = IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes)
 * The plaintext is the original Payload serialised as protobuf (metadata and data together), and the
 * codec id, key name and wrapped key are authenticated as additional data, so changing any of them
 * fails decryption.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const CODEC_ID = 'vault-transit/v1';
export const META_CODEC = 'stackly-codec';
export const META_KEY_NAME = 'encryption-key-id';
export const META_DATA_KEY = 'stackly-data-key';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

const meta = (p: Payload, k: string): string | undefined => {
  const v = p.metadata?.[k];
  return v ? fromUtf8.decode(v) : undefined;
};

function aad(keyName: string, wrapped: string): Buffer {
  return Buffer.from(`${CODEC_ID}\n${keyName}\n${wrapped}`, 'utf8');
}

/** Encrypts one payload under `key` (32 bytes) and labels it with the key name and wrapped key. */
export function sealPayload(p: Payload, key: Buffer, keyName: string, wrapped: string): Payload {
  const plain = temporal.api.common.v1.Payload.encode({ metadata: p.metadata ?? {}, data: p.data ?? new Uint8Array() }).finish();
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(keyName, wrapped));
  const body = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return {
    metadata: {
      encoding: utf8.encode(ENCODING_ENCRYPTED),
      [META_CODEC]: utf8.encode(CODEC_ID),
      [META_KEY_NAME]: utf8.encode(keyName),
      [META_DATA_KEY]: utf8.encode(wrapped),
    },
    data: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
  };
}

export type EnvelopeInfo =
  | { kind: 'plain' }
  | { kind: 'sealed'; keyName: string; wrapped: string }
  | { kind: 'foreign'; reason: string };

/**
 * What a payload is: not encrypted (passes through), sealed by this codec (with its key name and
 * wrapped key), or labelled encrypted by something this codec cannot read.
 */
export function inspectPayload(p: Payload): EnvelopeInfo {
  if (meta(p, 'encoding') !== ENCODING_ENCRYPTED) return { kind: 'plain' };
  const codec = meta(p, META_CODEC);
  if (codec !== CODEC_ID) return { kind: 'foreign', reason: codec ? `unknown codec "${codec.slice(0, 40)}"` : 'no stackly-codec label' };
  const keyName = meta(p, META_KEY_NAME);
  const wrapped = meta(p, META_DATA_KEY);
  if (!keyName || !wrapped) return { kind: 'foreign', reason: 'key name or wrapped data key missing from metadata' };
  return { kind: 'sealed', keyName, wrapped };
}

/** Decrypts a sealed payload. Throws a content-free Error when authentication fails. */
export function openPayload(p: Payload, key: Buffer, keyName: string, wrapped: string): Payload {
  const body = Buffer.from(p.data ?? new Uint8Array());
  if (body.length < IV_BYTES + TAG_BYTES) throw new Error('ciphertext too short');
  const iv = body.subarray(0, IV_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(keyName, wrapped));
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error('authentication failed (tampered, truncated or wrong key)');
  }
  const decoded = temporal.api.common.v1.Payload.decode(plain);
  return { metadata: { ...decoded.metadata }, data: decoded.data };
}
