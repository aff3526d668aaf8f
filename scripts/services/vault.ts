/**
 * A Vault-API server with the Transit engine. Tests use `vault server -dev` (in memory). The dev stack
 * uses file storage under its state directory, initialised and unsealed by this module, so that the
 * Transit keys (and with them every encrypted Temporal history) survive a restart.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, spawnService, waitFor, type ManagedProcess } from './process';

export interface VaultOptions {
  bin: string;
  stateDir: string;
  /** `dev`: in-memory, root token given. `persistent`: file storage in stateDir/vault. */
  mode: 'dev' | 'persistent';
  port?: number;
  timeoutMs?: number;
}

export interface VaultService {
  addr: string;
  token: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

async function vaultFetch(addr: string, path: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const res = await fetch(`${addr}/v1/${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.token ? { 'X-Vault-Token': init.token } : {}), 'Content-Type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function ensureTransit(addr: string, token: string, mount = 'transit'): Promise<void> {
  const mounts = await vaultFetch(addr, 'sys/mounts', { token });
  if (mounts.status !== 200) throw new Error(`listing Vault mounts: HTTP ${mounts.status}`);
  const data = (mounts.json.data ?? mounts.json) as Record<string, unknown>;
  if (data[`${mount}/`]) return;
  const r = await vaultFetch(addr, `sys/mounts/${mount}`, { method: 'POST', token, body: { type: 'transit' } });
  if (r.status >= 300 && !JSON.stringify(r.json).includes('path is already in use')) {
    throw new Error(`enabling Transit at ${mount}/: HTTP ${r.status} ${JSON.stringify(r.json.errors ?? '')}`);
  }
}

/** Creates a Transit key (aes256-gcm96) when it does not exist. */
export async function ensureTransitKey(addr: string, token: string, key: string, mount = 'transit'): Promise<void> {
  const r = await vaultFetch(addr, `${mount}/keys/${encodeURIComponent(key)}`, { method: 'POST', token, body: { type: 'aes256-gcm96' } });
  if (r.status >= 300) throw new Error(`creating Transit key ${key}: HTTP ${r.status} ${JSON.stringify(r.json.errors ?? '')}`);
}

export async function startVault(o: VaultOptions): Promise<VaultService> {
  const port = o.port ?? (await freePort());
  const addr = `http://127.0.0.1:${port}`;
  const env = { VAULT_ADDR: addr, HOME: o.stateDir, VAULT_LOG_LEVEL: 'warn', SKIP_SETCAP: '1' };
  let proc: ManagedProcess;
  let token: string;
  if (o.mode === 'dev') {
    token = `root-${randomBytes(12).toString('hex')}`;
    proc = spawnService('vault', o.bin, [
      'server', '-dev', `-dev-root-token-id=${token}`, `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token',
    ], { env, logFile: join(o.stateDir, 'vault.log') });
    await waitFor(`Vault dev server on ${addr}`, async () => (await vaultFetch(addr, 'sys/health')).status === 200, {
      timeoutMs: o.timeoutMs ?? 30_000, proc,
    });
  } else {
    const dir = join(o.stateDir, 'vault');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const hcl = [
      `storage "file" { path = ${JSON.stringify(join(dir, 'data'))} }`,
      `listener "tcp" {\n  address = "127.0.0.1:${port}"\n  tls_disable = true\n}`,
      'disable_mlock = true',
      `api_addr = "${addr}"`,
      'ui = false',
    ].join('\n');
    writeFileSync(join(dir, 'config.hcl'), hcl);
    proc = spawnService('vault', o.bin, ['server', `-config=${join(dir, 'config.hcl')}`], { env, logFile: join(o.stateDir, 'vault.log') });
    // 501 = not initialised, 503 = sealed, 200 = active.
    const status = await waitFor(`Vault on ${addr}`, async () => {
      const s = (await vaultFetch(addr, 'sys/health')).status;
      return [200, 429, 501, 503].includes(s) ? s : false;
    }, { timeoutMs: o.timeoutMs ?? 30_000, proc });
    const initFile = join(dir, 'init.json');
    if (status === 501) {
      const init = await vaultFetch(addr, 'sys/init', { method: 'PUT', body: { secret_shares: 1, secret_threshold: 1 } });
      if (init.status !== 200) throw new Error(`initialising Vault: HTTP ${init.status}`);
      // Dev-only: the unseal key and root token are kept beside the data, readable by this user only.
      writeFileSync(initFile, JSON.stringify(init.json), { mode: 0o600 });
    } else if (!existsSync(initFile)) {
      throw new Error(`Vault in ${dir} is initialised but ${initFile} (its unseal key) is missing; delete ${dir} to start over`);
    }
    const saved = JSON.parse(readFileSync(initFile, 'utf8')) as { keys_base64: string[]; root_token: string };
    token = saved.root_token;
    const unseal = await vaultFetch(addr, 'sys/unseal', { method: 'PUT', body: { key: saved.keys_base64[0] } });
    if (unseal.status !== 200) throw new Error(`unsealing Vault: HTTP ${unseal.status}`);
    await waitFor(`Vault unsealed on ${addr}`, async () => (await vaultFetch(addr, 'sys/health')).status === 200, { timeoutMs: 30_000, proc });
  }
  await ensureTransit(addr, token);
  return { addr, token, proc, stop: () => proc.stop() };
}
