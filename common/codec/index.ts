/**
 * Stackly's payload codec: Vault Transit envelope encryption, one Transit key per Temporal namespace.
 * Every Temporal client and worker of the project uses it through `dataConverterFor(codec)`; the codec
 * server (codec-server/) serves the same codec over HTTP to the Web UI and the CLI.
 */
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { createTransitClient } from './transit';
import { transitKeyName } from './keys';
import type { KeyInfo } from './transit';

export { CodecError, isCodecError, type CodecErrorCode } from './errors';
export { transitKeyName, keyVersionOf } from './keys';
export {
  createVaultCodec, createVaultKeyring,
  type CodecMode, type NamespaceCodec, type VaultCodecOptions, type VaultKeyring, type VaultKeyringOptions,
} from './codec';
export { createTransitClient, type KeyInfo, type TransitClient, type TransitClientOptions } from './transit';
export { ENCODING_ENCRYPTED, CODEC_ID, META_CODEC, META_DATA_KEY, META_KEY_NAME, inspectPayload } from './envelope';
export { LruCache, DataKeyRing } from './cache';

/**
 * The data converter for clients and workers: the default payload converter, then this codec, and a
 * failure converter that moves error messages and stack traces into the (encrypted) encoded attributes.
 */
export function dataConverterFor(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: require.resolve('./failure-converter') };
}

export interface VaultAccess {
  vaultAddr: string;
  vaultToken: string;
  transitMount?: string;
}

/**
 * Rotates the namespace's Transit key (for `stackly codec rotate`). New data keys are wrapped with the
 * new version; payloads written before still decode, because each carries its wrapped data key with
 * the version (`vault:vN:`). Running processes pick up the new version when their cached data key
 * expires (at most the data key TTL, 5 minutes by default) or on restart. Never raise the key's
 * `min_decryption_version` past a version that histories still in retention use.
 */
export async function rotateNamespaceKey(o: VaultAccess & { namespace: string }): Promise<KeyInfo> {
  return createTransitClient(o).rotateKey(transitKeyName(o.namespace));
}

/** Creates the namespace's Transit key when it does not exist (dev stack, provisioning). */
export async function ensureNamespaceKey(o: VaultAccess & { namespace: string }): Promise<KeyInfo> {
  const t = createTransitClient(o);
  const name = transitKeyName(o.namespace);
  const existing = await t.readKey(name);
  if (existing) return existing;
  await t.createKey(name);
  return (await t.readKey(name))!;
}
