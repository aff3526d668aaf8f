/**
 * The api process: read config once (a missing GITHUB_WEBHOOK_SECRET stops start-up), connect,
 * make sure this api's account exists, listen. SIGTERM/SIGINT close the server gracefully.
 */
import { Connection } from '@temporalio/client';
import { createVaultKeyring } from '../common/codec';
import { loadConfigOrExit } from '../common/config';
import { s3Client, s3SettingsFromConfig } from '../common/s3';
import { blobCipherFromKeyring } from '../activities/terraform/store';
import { createLogger } from '../common/logger';
import { createDb } from '../db';
import { ensureAccount } from '../db/repos/accounts';
import { namespaceClients } from '../common/temporal';
import { createAccountProvisioner } from './accounts/provision';
import { CachingSecretBox, VaultTransitSecretBox, transitSecretBoxes } from '../common/secret-box';
import { buildApi } from './server';
import { createAccessTokens } from './auth/tokens';
import { createSessions } from './auth/sessions';
import { createSignIn } from './auth/sign-in';
import { githubProvider, oidcProvider, type SignInProvider } from './auth/providers';

async function main(): Promise<void> {
  const cfg = loadConfigOrExit('api');
  const logger = createLogger('api', cfg.LOG_LEVEL);
  const db = createDb({ url: cfg.DATABASE_URL, ...(cfg.DATABASE_SCHEMA ? { schema: cfg.DATABASE_SCHEMA } : {}) });
  const account = await ensureAccount(db, cfg.STACKLY_ACCOUNT, cfg.TEMPORAL_NAMESPACE);
  // Lazy: the api starts (and answers 503 on webhooks) even while Temporal is down.
  const connection = Connection.lazy({ address: cfg.TEMPORAL_ADDRESS });
  // Every payload the api hands to Temporal (push deliveries, run inputs, signals) goes through the
  // Vault Transit codec of the namespace it goes to, as in the workers: one client per account
  // namespace, all over this one connection.
  const keyring = createVaultKeyring({ vaultAddr: cfg.VAULT_ADDR, vaultToken: cfg.VAULT_TOKEN, transitMount: cfg.VAULT_TRANSIT_MOUNT });
  const temporal = namespaceClients(connection, (ns) => keyring.codec(ns));
  // New accounts get `<TEMPORAL_NAMESPACE>-<name>` and its Transit key (POST /api/accounts).
  const provisioner = createAccountProvisioner({
    connection, namespacePrefix: cfg.TEMPORAL_NAMESPACE,
    vault: { vaultAddr: cfg.VAULT_ADDR, vaultToken: cfg.VAULT_TOKEN, transitMount: cfg.VAULT_TRANSIT_MOUNT },
  });
  const secretBox = new CachingSecretBox(new VaultTransitSecretBox({
    addr: cfg.VAULT_ADDR, token: cfg.VAULT_TOKEN, mount: cfg.VAULT_TRANSIT_MOUNT, key: cfg.VAULT_SECRETS_KEY,
  }));
  // Secret variables are sealed with their account's Transit key.
  const secretBoxFor = transitSecretBoxes({ addr: cfg.VAULT_ADDR, token: cfg.VAULT_TOKEN, mount: cfg.VAULT_TRANSIT_MOUNT });
  // The bucket, for breaking state locks (POST /api/states/:id/unlock); optional.
  const s3Settings = s3SettingsFromConfig(cfg);
  if (!s3Settings) logger.warn('no S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY: POST /api/states/:id/unlock answers 503');
  // Signing in (api/auth/): access tokens need AUTH_SIGNING_KEYS; providers are on when configured.
  let publicUrl = cfg.API_PUBLIC_URL;
  const auth = cfg.AUTH_SIGNING_KEYS ? await (async () => {
    const accessTokens = await createAccessTokens({ keys: cfg.AUTH_SIGNING_KEYS!, ttlSeconds: cfg.AUTH_ACCESS_TOKEN_TTL_SECONDS });
    const sessions = createSessions({
      db, accessTokens, sessionTtlSeconds: cfg.AUTH_SESSION_TTL_SECONDS,
      onReuse: (userId) => logger.warn({ userId }, 'a used refresh token was presented again: its sign-in is revoked'),
    });
    const providers: SignInProvider[] = [];
    if (cfg.AUTH_OIDC_CLIENT_ID) {
      providers.push(oidcProvider({
        issuer: cfg.AUTH_OIDC_ISSUER!, clientId: cfg.AUTH_OIDC_CLIENT_ID, clientSecret: cfg.AUTH_OIDC_CLIENT_SECRET!,
        scopes: cfg.AUTH_OIDC_SCOPES, groupsClaim: cfg.AUTH_OIDC_GROUPS_CLAIM,
      }));
    }
    if (cfg.AUTH_GITHUB_CLIENT_ID) {
      providers.push(githubProvider({ url: cfg.AUTH_GITHUB_URL, apiUrl: cfg.AUTH_GITHUB_API_URL, clientId: cfg.AUTH_GITHUB_CLIENT_ID, clientSecret: cfg.AUTH_GITHUB_CLIENT_SECRET! }));
    }
    const signIn = createSignIn({
      db, logger, providers, sessions, publicUrl: () => publicUrl ?? '', roleMappings: cfg.AUTH_ROLE_MAPPINGS,
      defaultAccount: cfg.STACKLY_ACCOUNT, ...(cfg.AUTH_DEFAULT_ROLE ? { defaultRole: cfg.AUTH_DEFAULT_ROLE } : {}),
    });
    logger.info({ providers: signIn.providers, signingKeys: cfg.AUTH_SIGNING_KEYS!.map((k) => k.kid) }, 'sign-in configured');
    return { accessTokens, signIn };
  })() : undefined;
  if (!auth) logger.warn('no AUTH_SIGNING_KEYS: only API keys authenticate (no sign-in)');
  const app = await buildApi({
    ...(auth ?? {}),
    db, logger, temporal, platformAccountId: account.id, provisioner, webhookSecret: cfg.GITHUB_WEBHOOK_SECRET, allowGlobalWebhookSecret: cfg.WEBHOOK_GLOBAL_SECRET_ALLOWED, secretBox, secretBoxFor,
    bodyLimitBytes: cfg.API_BODY_LIMIT_BYTES,
    rateLimits: {
      perCredential: cfg.RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE, perAccount: cfg.RATE_LIMIT_PER_ACCOUNT_PER_MINUTE, perAddress: cfg.RATE_LIMIT_PER_IP_PER_MINUTE,
    },
    ...(cfg.API_TRUST_PROXY !== undefined ? { trustProxy: cfg.API_TRUST_PROXY } : {}),
    ...(s3Settings ? { s3: { client: s3Client(s3Settings), bucket: s3Settings.bucket } } : {}),
    // Run logs are sealed with each account's namespace key, like the Temporal payloads.
    logCipher: (ns: string) => blobCipherFromKeyring(keyring, ns),
  });
  const address = await app.listen({ host: cfg.API_HOST, port: cfg.API_PORT });
  // Without API_PUBLIC_URL, identity providers send browsers back to the address the api listens on.
  publicUrl ??= address;
  logger.info({ address }, 'api listening');
  let closing = false;
  const stop = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'api stopping');
    await app.close();
    await connection.close().catch(() => undefined);
    await db.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`stackly api: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
