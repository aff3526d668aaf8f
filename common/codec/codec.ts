/**
 * The Vault Transit payload codec: envelope encryption with one Transit key per Temporal namespace.
 *
 * encode: every payload (system ones too, whatever its size) is sealed with AES-256-GCM under a data
 *   key from Transit `datakey/plaintext`; the plaintext data key is reused for at most
 *   `dataKeyTtlMs` and `dataKeyMaxUses` payloads, then dropped. One Vault round trip per data key,
 *   not per payload.
 * decode: payloads that are not encrypted pass through unchanged (the Web UI sends system payloads
 *   too), except for a `requireEncrypted` codec (workers'): there a payload without this codec's
 *   encoding is refused, so nothing written around the codec reaches workflow or activity code; sealed ones have their wrapped data keys unwrapped by one batch Transit decrypt per request
 *   (only the keys not already cached), the unwrapped keys are kept in a bounded LRU.
 *
 * The Transit key version travels in the wrapped data key (`vault:vN:`), so payloads written before a
 * rotation still decode as long as `min_decryption_version` is not raised past N.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { CodecError } from './errors';
import { DataKeyRing, LruCache } from './cache';
import { inspectPayload, openPayload, sealPayload } from './envelope';
import { transitKeyName } from './keys';
import { createTransitClient, type KeyInfo, type TransitClient } from './transit';

export interface VaultKeyringOptions {
  vaultAddr: string;
  vaultToken: string;
  /** Transit mount path, default `transit`. */
  transitMount?: string;
  /** How long one plaintext data key encrypts payloads, default 5 minutes. */
  dataKeyTtlMs?: number;
  /** How many payloads one data key encrypts at most, default 10,000. */
  dataKeyMaxUses?: number;
  /** Unwrapped data keys kept for decoding, default 1,000 keys for 10 minutes each. */
  decodeCacheMaxKeys?: number;
  decodeCacheTtlMs?: number;
  /** Test seams. */
  transit?: TransitClient;
  now?: () => number;
}

export interface VaultCodecOptions extends VaultKeyringOptions {
  namespace: string;
}

/** A PayloadCodec bound to one namespace. */
export interface NamespaceCodec extends PayloadCodec {
  readonly namespace: string;
  readonly keyName: string;
  /** Drop the cached encryption data key, so the next payload uses a data key of the latest key version. */
  invalidateDataKey(): void;
  /** Data keys fetched from Vault for encoding so far. */
  readonly dataKeysFetched: number;
}

export interface CodecMode {
  /**
   * Refuse a payload that is not sealed by this codec (workers: a payload written without the codec,
   * e.g. a signal or workflow start from a client without it, fails to decode instead of passing
   * through). Encoding is the same either way, so strict and lenient ends interoperate.
   */
  requireEncrypted?: boolean;
}

/** Codecs for any number of namespaces sharing one Vault client and one decode cache (the codec server). */
export interface VaultKeyring {
  codec(namespace: string, mode?: CodecMode): NamespaceCodec;
  health(): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Rotates the namespace's Transit key and drops this process's cached data key for it. */
  rotate(namespace: string): Promise<KeyInfo>;
  readonly transit: TransitClient;
}

export const DEFAULTS = {
  dataKeyTtlMs: 5 * 60_000,
  dataKeyMaxUses: 10_000,
  decodeCacheMaxKeys: 1_000,
  decodeCacheTtlMs: 10 * 60_000,
} as const;

export function createVaultKeyring(o: VaultKeyringOptions): VaultKeyring {
  const now = o.now ?? Date.now;
  const transit = o.transit ?? createTransitClient({ vaultAddr: o.vaultAddr, vaultToken: o.vaultToken, transitMount: o.transitMount });
  const decodeCache = new LruCache<Buffer>(o.decodeCacheMaxKeys ?? DEFAULTS.decodeCacheMaxKeys, o.decodeCacheTtlMs ?? DEFAULTS.decodeCacheTtlMs, now);
  /** Unwraps in flight, shared by concurrent decode calls (keyed like decodeCache). */
  const unwrapping = new Map<string, Promise<Buffer | { error: string }>>();
  const codecs = new Map<string, NamespaceCodec>();

  const cacheKey = (keyName: string, wrapped: string) => `${keyName}\n${wrapped}`;

  /** Unwraps every distinct wrapped key of one request in a single batch call. */
  async function unwrapAll(namespace: string, keyName: string, wrappedKeys: string[]): Promise<Map<string, Buffer | { error: string }>> {
    const out = new Map<string, Buffer | { error: string }>();
    const toFetch: string[] = [];
    const waits: Array<Promise<void>> = [];
    for (const w of new Set(wrappedKeys)) {
      const ck = cacheKey(keyName, w);
      const hit = decodeCache.get(ck);
      if (hit) out.set(w, hit);
      else if (unwrapping.has(ck)) waits.push(unwrapping.get(ck)!.then((r) => void out.set(w, r)));
      else toFetch.push(w);
    }
    if (toFetch.length) {
      const batch = transit.decryptBatch(keyName, toFetch).catch((e: unknown) => {
        if (e instanceof CodecError && e.code === 'namespace_key_missing') {
          throw new CodecError('namespace_key_missing', `namespace "${namespace}" has no Transit key "${keyName}" on mount "${transit.mount}/"`, { namespace });
        }
        throw e;
      });
      toFetch.forEach((w, i) => {
        const one = batch.then((r) => r[i]!);
        const ck = cacheKey(keyName, w);
        unwrapping.set(ck, one);
        one.then(
          (r) => {
            unwrapping.delete(ck);
            if (Buffer.isBuffer(r)) decodeCache.set(ck, r);
          },
          () => unwrapping.delete(ck),
        );
      });
      waits.push(batch.then((results) => toFetch.forEach((w, i) => out.set(w, results[i]!))));
    }
    // One Promise.all over every wait: a failure of any of them is handled here (never an unhandled
    // rejection that would take the codec server down), and the first one is reported.
    await Promise.all(waits);
    return out;
  }

  function codec(namespace: string, mode: CodecMode = {}): NamespaceCodec {
    const strict = mode.requireEncrypted === true;
    const codecKey = `${strict ? 'strict' : 'lenient'}\n${namespace}`;
    const existing = codecs.get(codecKey);
    if (existing) return existing;
    const keyName = transitKeyName(namespace);
    const ring = new DataKeyRing(
      async () => {
        try {
          return await transit.generateDataKey(keyName);
        } catch (e) {
          if (e instanceof CodecError && e.code === 'namespace_key_missing') {
            throw new CodecError('namespace_key_missing', `namespace "${namespace}" has no Transit key "${keyName}" on mount "${transit.mount}/" (create it: vault write -f ${transit.mount}/keys/${keyName})`, { namespace });
          }
          throw e;
        }
      },
      o.dataKeyTtlMs ?? DEFAULTS.dataKeyTtlMs,
      o.dataKeyMaxUses ?? DEFAULTS.dataKeyMaxUses,
      now,
    );

    const c: NamespaceCodec = {
      namespace,
      keyName,
      get dataKeysFetched() {
        return ring.fetched;
      },
      invalidateDataKey: () => ring.invalidate(),

      async encode(payloads: Payload[]): Promise<Payload[]> {
        const out: Payload[] = [];
        for (const p of payloads) {
          const { key, wrapped } = await ring.acquire();
          out.push(sealPayload(p, key, keyName, wrapped));
        }
        return out;
      },

      async decode(payloads: Payload[]): Promise<Payload[]> {
        const infos = payloads.map((p, i) => {
          const info = inspectPayload(p);
          if (info.kind === 'foreign') throw new CodecError('payload_invalid', `payload ${i}: labelled encrypted but not readable by this codec: ${info.reason}`, { payloadIndex: i, namespace });
          if (info.kind === 'plain' && strict) {
            throw new CodecError('payload_invalid', `payload ${i}: not encrypted; this worker accepts only payloads sealed with namespace key "${keyName}"`, { payloadIndex: i, namespace });
          }
          if (info.kind === 'sealed' && info.keyName !== keyName) {
            throw new CodecError('payload_invalid', `payload ${i}: encrypted with key "${info.keyName.slice(0, 80)}", not this namespace's key "${keyName}"`, { payloadIndex: i, namespace });
          }
          return info;
        });
        const wrapped = infos.flatMap((x) => (x.kind === 'sealed' ? [x.wrapped] : []));
        if (wrapped.length === 0) return payloads;
        const keys = await unwrapAll(namespace, keyName, wrapped);
        return payloads.map((p, i) => {
          const info = infos[i]!;
          if (info.kind !== 'sealed') return p;
          const key = keys.get(info.wrapped);
          if (!key || !Buffer.isBuffer(key)) {
            throw new CodecError('payload_invalid', `payload ${i}: its data key could not be unwrapped by Transit key "${keyName}"${key ? `: ${key.error}` : ''}`, { payloadIndex: i, namespace });
          }
          try {
            return openPayload(p, key, keyName, info.wrapped);
          } catch (e) {
            throw new CodecError('payload_invalid', `payload ${i}: ${(e as Error).message}`, { payloadIndex: i, namespace });
          }
        });
      },
    };
    codecs.set(codecKey, c);
    return c;
  }

  return {
    transit,
    codec,
    health: () => transit.health(),
    async rotate(namespace) {
      const info = await transit.rotateKey(transitKeyName(namespace));
      for (const k of ['strict', 'lenient']) codecs.get(`${k}\n${namespace}`)?.invalidateDataKey();
      return info;
    },
  };
}

/** A PayloadCodec for one namespace (what clients and workers of that namespace use). */
export function createVaultCodec(o: VaultCodecOptions & CodecMode): NamespaceCodec {
  return createVaultKeyring(o).codec(o.namespace, { requireEncrypted: o.requireEncrypted });
}
