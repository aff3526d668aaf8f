/**
 * The few Vault Transit calls the codec needs, over plain `fetch`. Why not node-vault: its errors
 * carry the request options (and with them the token) and it is untyped; these five calls are
 * small. Works against Vault, OpenBao and HCP Vault (same HTTP API).
 *
 * Nothing here logs, and no error message carries a token, a plaintext or a data key.
 */
import { CodecError } from './errors';

export interface TransitClientOptions {
  vaultAddr: string;
  vaultToken: string;
  /** Mount path of the Transit engine, default `transit`. */
  transitMount?: string;
  /** Per-request timeout, default 10 s. */
  timeoutMs?: number;
}

/** What the codec needs from Transit; tests pass a double of the same shape. */
export interface TransitClient {
  readonly mount: string;
  /** A fresh 256-bit data key: plaintext (raw bytes) and Transit ciphertext (`vault:vN:…`). */
  generateDataKey(keyName: string): Promise<{ plaintext: Buffer; ciphertext: string }>;
  /**
   * Unwraps data keys in one batch request. Each result is the raw key or an error text for that
   * item (a bad item does not fail the others).
   */
  decryptBatch(keyName: string, ciphertexts: string[]): Promise<Array<Buffer | { error: string }>>;
  rotateKey(keyName: string): Promise<KeyInfo>;
  readKey(keyName: string): Promise<KeyInfo | undefined>;
  createKey(keyName: string): Promise<void>;
  /** Vault reachable, unsealed, and the token valid. */
  health(): Promise<{ ok: true } | { ok: false; reason: string }>;
}

export interface KeyInfo {
  name: string;
  latestVersion: number;
  minDecryptionVersion: number;
  minEncryptionVersion: number;
}

interface VaultResponse {
  status: number;
  body: { data?: Record<string, unknown>; errors?: string[] } & Record<string, unknown>;
}

const KEY_MISSING = /encryption key not found|no handler for route|unsupported path/i;

export function createTransitClient(o: TransitClientOptions): TransitClient {
  const base = o.vaultAddr.replace(/\/+$/, '');
  const mount = (o.transitMount ?? 'transit').replace(/^\/+|\/+$/g, '');
  const timeoutMs = o.timeoutMs ?? 10_000;

  async function call(method: 'GET' | 'POST', path: string, what: string, body?: unknown): Promise<VaultResponse> {
    let res: Response;
    try {
      res = await fetch(`${base}/v1/${path}`, {
        method,
        headers: { 'X-Vault-Token': o.vaultToken, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const reason = (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e as Error).message;
      throw new CodecError('vault_unavailable', `${what}: Vault at ${base} unreachable: ${reason}`);
    }
    const text = await res.text();
    let parsed: VaultResponse['body'] = {};
    try {
      parsed = text ? (JSON.parse(text) as VaultResponse['body']) : {};
    } catch {
      parsed = {};
    }
    return { status: res.status, body: parsed };
  }

  /** Vault's own error texts name keys and paths, never request bodies; cut them short anyway. */
  const vaultErrors = (r: VaultResponse) => (r.body.errors ?? []).join('; ').slice(0, 300) || `HTTP ${r.status}`;

  function fail(r: VaultResponse, what: string, keyName: string): never {
    const msg = vaultErrors(r);
    if (r.status === 404 || (r.status === 400 && KEY_MISSING.test(msg))) {
      throw new CodecError('namespace_key_missing', `${what}: Transit key "${keyName}" does not exist on mount "${mount}/"`);
    }
    if (r.status >= 500 && r.status !== 503) throw new CodecError('vault_unavailable', `${what}: Vault error: ${msg}`);
    if (r.status === 503) throw new CodecError('vault_unavailable', `${what}: Vault is sealed or on standby: ${msg}`);
    throw new CodecError('vault_error', `${what}: Vault refused (HTTP ${r.status}): ${msg}`);
  }

  const keyPath = (op: string, keyName: string) => `${mount}/${op}/${encodeURIComponent(keyName)}`;

  function toKeyInfo(keyName: string, data: Record<string, unknown>): KeyInfo {
    return {
      name: keyName,
      latestVersion: Number(data.latest_version),
      minDecryptionVersion: Number(data.min_decryption_version),
      minEncryptionVersion: Number(data.min_encryption_version ?? 0),
    };
  }

  return {
    mount,
    async generateDataKey(keyName) {
      const what = `generating a data key with "${keyName}"`;
      const r = await call('POST', keyPath('datakey/plaintext', keyName), what, { bits: 256 });
      if (r.status !== 200 || !r.body.data) fail(r, what, keyName);
      const d = r.body.data as { plaintext?: string; ciphertext?: string };
      if (!d.plaintext || !d.ciphertext) throw new CodecError('vault_error', `${what}: Vault answered without a key`);
      const plaintext = Buffer.from(d.plaintext, 'base64');
      if (plaintext.length !== 32) throw new CodecError('vault_error', `${what}: Vault returned a ${plaintext.length * 8}-bit key, expected 256`);
      return { plaintext, ciphertext: d.ciphertext };
    },

    async decryptBatch(keyName, ciphertexts) {
      if (ciphertexts.length === 0) return [];
      const what = `unwrapping ${ciphertexts.length} data key(s) with "${keyName}"`;
      const r = await call('POST', keyPath('decrypt', keyName), what, {
        batch_input: ciphertexts.map((ciphertext) => ({ ciphertext })),
      });
      const results = (r.body.data as { batch_results?: Array<{ plaintext?: string; error?: string }> } | undefined)?.batch_results;
      // Vault answers 400 with batch_results when every item failed; that is per-item, not a key problem.
      if (!results || (r.status !== 200 && r.status !== 400)) fail(r, what, keyName);
      if (results.length !== ciphertexts.length) throw new CodecError('vault_error', `${what}: Vault returned ${results.length} results`);
      return results.map((x) => (x.error || !x.plaintext ? { error: (x.error ?? 'no plaintext').slice(0, 200) } : Buffer.from(x.plaintext, 'base64')));
    },

    async rotateKey(keyName) {
      const what = `rotating "${keyName}"`;
      const r = await call('POST', `${keyPath('keys', keyName)}/rotate`, what, {});
      if (r.status !== 200 && r.status !== 204) fail(r, what, keyName);
      const info = r.body.data ? toKeyInfo(keyName, r.body.data) : await this.readKey(keyName);
      if (!info) throw new CodecError('namespace_key_missing', `${what}: key vanished after rotation`);
      return info;
    },

    async readKey(keyName) {
      const what = `reading "${keyName}"`;
      const r = await call('GET', keyPath('keys', keyName), what);
      if (r.status === 404) return undefined;
      if (r.status !== 200 || !r.body.data) fail(r, what, keyName);
      return toKeyInfo(keyName, r.body.data);
    },

    async createKey(keyName) {
      const what = `creating "${keyName}"`;
      const r = await call('POST', keyPath('keys', keyName), what, { type: 'aes256-gcm96' });
      if (r.status !== 200 && r.status !== 204) fail(r, what, keyName);
    },

    async health() {
      try {
        const h = await call('GET', 'sys/health', 'checking Vault health');
        if (h.status !== 200) {
          const state = h.status === 503 ? 'sealed' : h.status === 501 ? 'not initialised' : h.status === 429 ? 'standby' : `HTTP ${h.status}`;
          return { ok: false, reason: `Vault is ${state}` };
        }
        const t = await call('GET', 'auth/token/lookup-self', 'checking the Vault token');
        if (t.status !== 200) return { ok: false, reason: `the Vault token is not valid (HTTP ${t.status})` };
        return { ok: true };
      } catch (e) {
        return { ok: false, reason: (e as Error).message };
      }
    },
  };
}
