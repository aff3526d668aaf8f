/** Process entry of the codec server: config from the environment, Vault keyring, HTTP listener. */
import { loadConfigOrExit } from '../common/config';
import { createLogger } from '../common/logger';
import { createVaultKeyring } from '../common/codec';
import { credentialNamespaces } from '../common/credentials';
import { createDb } from '../db';
import { buildCodecServer } from './server';

async function main(): Promise<void> {
  const cfg = loadConfigOrExit('codec');
  const logger = createLogger('codec-server', cfg.LOG_LEVEL);
  const keyring = createVaultKeyring({ vaultAddr: cfg.VAULT_ADDR, vaultToken: cfg.VAULT_TOKEN, transitMount: cfg.VAULT_TRANSIT_MOUNT });
  // Stackly credentials (API keys) are checked in Postgres and decode their accounts' namespaces only.
  const db = cfg.DATABASE_URL ? createDb({ url: cfg.DATABASE_URL, ...(cfg.DATABASE_SCHEMA ? { schema: cfg.DATABASE_SCHEMA } : {}) }) : undefined;
  const app = await buildCodecServer(cfg, { keyring, logger, ...(db ? { credentials: (token: string) => credentialNamespaces(db, token) } : {}) });
  if (!db) logger.warn('no DATABASE_URL: only the platform tokens of CODEC_AUTH_TOKENS are accepted (every namespace)');
  const health = await keyring.health();
  if (!health.ok) logger.warn({ reason: health.reason }, 'Vault is not healthy yet; /health answers 503 until it is');
  if (cfg.CODEC_CORS_ORIGINS.length === 0) logger.warn('CODEC_CORS_ORIGINS is empty: the Web UI cannot call this server (the CLI can)');
  await app.listen({ host: cfg.CODEC_HOST, port: cfg.CODEC_PORT });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      logger.info({ signal: sig }, 'shutting down');
      app.close().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`stackly codec-server: ${(e as Error).message}\n`);
  process.exit(1);
});
