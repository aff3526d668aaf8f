/**
 * Secrets at rest (webhook secrets, clone credentials) are stored only as ciphertext. `SecretBox` is
 * the seam; the implementation is Vault Transit (`<mount>/encrypt/<key>`, default
 * `transit/encrypt/stackly-secrets`). Vault is required configuration of the api and the workers
 * (common/config.ts): there is no plaintext fallback.
 */
import nodeVault from 'node-vault';
import type { DbOrTx } from '../db';
import { getRepositoryById } from '../db/repos/repositories';

/** Clone credentials of a private repository (HTTPS), as stored encrypted in repositories.credentials_enc. */
export type GitCredentials = { token: string; username?: string } | { username: string; password: string };

export interface SecretBox {
  encrypt(plaintext: string): Promise<string>;
  decrypt(ciphertext: string): Promise<string>;
  /** A keyed digest of `data` under the box's key (Transit `hmac/<key>`); the key never leaves Vault. */
  hmac?(data: string): Promise<string>;
}

export class SecretBoxUnavailableError extends Error {
  constructor() {
    super('secret storage is not configured (set VAULT_ADDR and VAULT_TOKEN)');
    this.name = 'SecretBoxUnavailableError';
  }
}

export interface VaultSecretBoxOptions {
  addr: string;
  token: string;
  mount?: string;
  key?: string;
  /** Create the key when missing (default true); false for keys made elsewhere (accounts' keys). */
  create?: boolean;
}

export class VaultTransitSecretBox implements SecretBox {
  private readonly vault: nodeVault.client;
  private readonly mount: string;
  private readonly key: string;
  private keyReady: Promise<void> | undefined;
  private readonly create: boolean;

  constructor(opts: VaultSecretBoxOptions) {
    this.vault = nodeVault({ endpoint: opts.addr, token: opts.token });
    this.mount = opts.mount ?? 'transit';
    this.key = opts.key ?? 'stackly-secrets';
    this.create = opts.create ?? true;
  }

  /** Creates the Transit key when missing (idempotent). */
  ensureKey(): Promise<void> {
    this.keyReady ??= (async () => {
      try {
        await this.vault.read(`${this.mount}/keys/${this.key}`);
      } catch {
        await this.vault.write(`${this.mount}/keys/${this.key}`, { type: 'aes256-gcm96' });
      }
    })().catch((e: unknown) => {
      this.keyReady = undefined;
      throw new Error(`preparing Vault Transit key ${this.key}: ${(e as Error).message}`);
    });
    return this.keyReady;
  }

  async encrypt(plaintext: string): Promise<string> {
    if (this.create) await this.ensureKey();
    const res = await this.vault.write(`${this.mount}/encrypt/${this.key}`, { plaintext: Buffer.from(plaintext, 'utf8').toString('base64') });
    return res.data.ciphertext as string;
  }

  async decrypt(ciphertext: string): Promise<string> {
    const res = await this.vault.write(`${this.mount}/decrypt/${this.key}`, { ciphertext });
    return Buffer.from(res.data.plaintext as string, 'base64').toString('utf8');
  }

  async hmac(data: string): Promise<string> {
    const res = await this.vault.write(`${this.mount}/hmac/${this.key}/sha2-256`, { input: Buffer.from(data, 'utf8').toString('base64') });
    return res.data.hmac as string;
  }
}

/** Remembers decrypted values for a while, so each webhook delivery does not cost a Vault round trip. */
export class CachingSecretBox implements SecretBox {
  private readonly cache = new Map<string, { value: string; until: number }>();
  constructor(private readonly inner: SecretBox, private readonly ttlMs = 5 * 60_000, private readonly max = 1000) {}
  encrypt(plaintext: string): Promise<string> {
    return this.inner.encrypt(plaintext);
  }
  async decrypt(ciphertext: string): Promise<string> {
    const hit = this.cache.get(ciphertext);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await this.inner.decrypt(ciphertext);
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(ciphertext, { value, until: Date.now() + this.ttlMs });
    return value;
  }
}

/**
 * For workers (`createControlActivities` / `createExecutionActivities({ credentialsFor })`): the
 * decrypted clone credentials of a registered repository, or null when it has none. The plaintext
 * lives only in the git child's environment (activities/git-mirror.ts); it never reaches an activity
 * input or result, so never Temporal history.
 */
export function repositoryCredentialsResolver(db: DbOrTx, box: SecretBox): (repositoryId: string) => Promise<GitCredentials | null> {
  return async (repositoryId) => {
    const row = await getRepositoryById(db, repositoryId);
    if (!row?.credentials_enc) return null;
    const parsed = JSON.parse(await box.decrypt(row.credentials_enc)) as GitCredentials;
    return parsed;
  };
}

/**
 * SecretBoxes over named Transit keys that exist already (accounts' keys: secret variables), one per
 * key, never caching plaintext.
 */
export function transitSecretBoxes(opts: Omit<VaultSecretBoxOptions, 'key' | 'create'>): (key: string) => SecretBox {
  const boxes = new Map<string, SecretBox>();
  return (key) => {
    let b = boxes.get(key);
    if (!b) boxes.set(key, b = new VaultTransitSecretBox({ ...opts, key, create: false }));
    return b;
  };
}
