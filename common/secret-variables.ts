/**
 * Secret Terraform variables (issue 15): names, limits, and their encryption at rest. A value is
 * sealed with Vault Transit under the key of its account (accounts.transit_key), together with the
 * account, scope and name it belongs to, so a ciphertext copied to another row (or another account)
 * does not open there. Plaintext exists only in the api request that sets it and in the execution
 * worker that hands it to tofu as `TF_VAR_<name>`.
 */
import type { SecretBox } from './secret-box';
import { transitKeyName } from './codec/keys';

/** A Terraform identifier usable in an environment variable name (`TF_VAR_<name>`). */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
/** Values up to 32 KiB (UTF-8). */
export const MAX_SECRET_VALUE_BYTES = 32 * 1024;
/** At most this many secrets per state or stack code. */
export const MAX_SECRETS_PER_SCOPE = 100;

export type SecretScopeKind = 'state' | 'stack_code';

export interface SecretBinding {
  accountId: string;
  scope: SecretScopeKind;
  scopeId: string;
  name: string;
}

/** Why a name is not acceptable, or undefined when it is. */
export function secretNameProblem(name: string): string | undefined {
  if (!SECRET_NAME_PATTERN.test(name)) {
    return 'must be a Terraform identifier: a letter or _, then letters, digits or _ (at most 100 characters)';
  }
  if (/^stackly_/i.test(name)) return 'names starting with stackly_ are reserved for the variables Stackly generates';
  return undefined;
}

/** Why a value is not acceptable, or undefined when it is. */
export function secretValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string (for another type, its HCL literal, as TF_VAR_ values are read)';
  if (value.length === 0) return 'must not be empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) return `must be at most ${MAX_SECRET_VALUE_BYTES} bytes`;
  if (value.includes('\0')) return 'must not contain NUL characters';
  return undefined;
}

/** The Transit key of an account's secrets: its own key (the one of its namespace's payloads). */
export function accountTransitKey(account: { transit_key: string | null; temporal_namespace: string }): string {
  return account.transit_key ?? transitKeyName(account.temporal_namespace);
}

/** A SecretBox over the named Transit key (api/main.ts and workers/main.ts make them over Vault). */
export type SecretBoxFor = (transitKey: string) => SecretBox;

export async function sealSecret(box: SecretBox, b: SecretBinding, value: string): Promise<string> {
  return box.encrypt(JSON.stringify({ v: 1, a: b.accountId, s: b.scope, i: b.scopeId, n: b.name, value }));
}

/** Opens a sealed value; refuses one sealed for another account, scope or name. */
export async function openSecret(box: SecretBox, b: SecretBinding, ciphertext: string): Promise<string> {
  const plain = await box.decrypt(ciphertext);
  let doc: { v?: unknown; a?: unknown; s?: unknown; i?: unknown; n?: unknown; value?: unknown };
  try {
    doc = JSON.parse(plain) as typeof doc;
  } catch {
    throw new Error(`secret variable ${b.name}: stored value is not in the expected form`);
  }
  if (doc.v !== 1 || doc.a !== b.accountId || doc.s !== b.scope || doc.i !== b.scopeId || doc.n !== b.name || typeof doc.value !== 'string') {
    throw new Error(`secret variable ${b.name}: stored value was sealed for another ${b.scope === 'state' ? 'state' : 'stack code'}, account or name; refused`);
  }
  return doc.value;
}
