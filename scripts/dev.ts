/**
 * The dev stack: every component of Stackly on this machine, with state kept under .stackly/ (or
 * STACKLY_STATE_DIR) so a restart keeps runs, keys, state objects and the registry.
 * Run through `scripts/dev` (which installs dependencies, provides the binaries and builds first).
 * Ctrl-C stops everything, last started first.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createDb, migrate } from '../db';
import { ensureAccount } from '../db/repos/accounts';
import { ensureFirstAdmin, ensureSigningKeys } from './services/admin';
import { moveLegacyStateObjects, pendingStateMoves } from '../db/state-objects';
import { s3Client } from '../common/s3';
import {
  ensureTransitKey, portInUse, providePostgres, REPO_ROOT, resolveTools, spawnService, startMinio, startTemporal,
  startVault, waitFor, type ManagedProcess,
} from './services';

const env = process.env;
const num = (name: string, dflt: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name} must be a port number, got "${v}"`);
  return n;
};

const ports = {
  api: num('API_PORT', 8080),
  codec: num('CODEC_PORT', 8081),
  temporal: num('STACKLY_TEMPORAL_PORT', 7233),
  temporalUi: num('STACKLY_TEMPORAL_UI_PORT', 8233),
  vault: num('STACKLY_VAULT_PORT', 8200),
  minio: num('STACKLY_MINIO_PORT', 9000),
  minioConsole: num('STACKLY_MINIO_CONSOLE_PORT', 9001),
  pglite: num('STACKLY_PGLITE_PORT', 5433),
};

const say = (s: string) => process.stdout.write(`stackly dev: ${s}\n`);
const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** A secret generated once and kept in the state directory (mode 0600). */
function stateSecret(dir: string, name: string, bytes = 24): string {
  const file = join(dir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const v = randomBytes(bytes).toString('base64url');
  writeFileSync(file, v + '\n', { mode: 0o600 });
  return v;
}

async function checkPortsFree(): Promise<void> {
  const busy: string[] = [];
  const names: Record<string, string> = {
    api: 'API_PORT', codec: 'CODEC_PORT', temporal: 'STACKLY_TEMPORAL_PORT', temporalUi: 'STACKLY_TEMPORAL_UI_PORT',
    vault: 'STACKLY_VAULT_PORT', minio: 'STACKLY_MINIO_PORT', minioConsole: 'STACKLY_MINIO_CONSOLE_PORT',
  };
  for (const [k, envName] of Object.entries(names)) {
    const p = ports[k as keyof typeof ports];
    if (await portInUse(p)) busy.push(`${p} (${envName})`);
  }
  if (busy.length) {
    throw new Error(`ports already in use: ${busy.join(', ')}. Is another dev stack running? Stop it, or set the named variables to other ports.`);
  }
}

async function main(): Promise<void> {
  const stateDir = resolve(env.STACKLY_STATE_DIR ?? join(REPO_ROOT, '.stackly'));
  const logDir = join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  await checkPortsFree();

  const tools = await resolveTools(['temporal', 'vault', 'minio', 'tofu'], true);
  say(`binaries ready (${since()})`);

  const pg = await providePostgres({ databaseUrl: env.DATABASE_URL, stateDir, embeddedPort: ports.pglite, log: say,
    forceEmbedded: env.STACKLY_POSTGRES === 'embedded' });
  stops.push({ name: 'postgres', stop: pg.stop });
  const db = createDb({ url: pg.url, max: 2 });
  const { applied } = await migrate(db);
  await db.destroy();
  say(`postgres (${pg.kind}) ready, migrations ${applied.length ? `applied: ${applied.join(', ')}` : 'up to date'} (${since()})`);

  const vault = await startVault({ bin: tools.vault!, stateDir, mode: 'persistent', port: ports.vault });
  stops.push({ name: 'vault', stop: vault.stop });
  const namespace = env.TEMPORAL_NAMESPACE ?? 'stackly';
  await ensureTransitKey(vault.addr, vault.token, `temporal-${namespace}`);
  say(`vault ready with Transit (${since()})`);

  const s3 = {
    accessKeyId: 'stackly',
    secretAccessKey: stateSecret(stateDir, 'minio-secret'),
  };
  const minio = await startMinio({
    bin: tools.minio!, stateDir, port: ports.minio, consolePort: ports.minioConsole, bucket: 'stackly', ...s3,
  });
  stops.push({ name: 'minio', stop: minio.stop });
  say(`minio ready with bucket stackly (${since()})`);
  // A data directory from before state keys were derived from state ids: move its state objects.
  {
    const mdb = createDb({ url: pg.url, max: 1 });
    try {
      if (await pendingStateMoves(mdb)) {
        const client = s3Client(minio);
        const r = await moveLegacyStateObjects(mdb, client, minio.bucket);
        client.destroy();
        say(`state objects moved to id-derived keys: ${r.moved.length} state(s)${r.skipped.length ? `; not moved: ${r.skipped.map((x) => `${x.stateId} (${x.reason})`).join(', ')}` : ''}`);
      }
    } finally {
      await mdb.destroy();
    }
  }

  const codecUrl = `http://127.0.0.1:${ports.codec}`;
  const temporal = await startTemporal({
    bin: tools.temporal!, stateDir, dbFile: join(stateDir, 'temporal.db'), port: ports.temporal, uiPort: ports.temporalUi,
    namespace, codecEndpoint: codecUrl,
  });
  stops.push({ name: 'temporal', stop: temporal.stop });
  say(`temporal ready (${since()})`);

  const codecToken = stateSecret(stateDir, 'codec-token', 32);
  // The first admin and its API key (kept in .stackly/api-token; the CLI reads it from there).
  {
    const adb = createDb({ url: pg.url, max: 1 });
    try {
      const account = await ensureAccount(adb, env.STACKLY_ACCOUNT ?? 'default', namespace);
      const { created } = await ensureFirstAdmin(adb, account.id, join(stateDir, 'api-token'));
      say(`${created ? 'first admin created' : 'first admin kept'}: user admin of account ${account.name}, its API key in ${join(stateDir, 'api-token')}`);
    } finally {
      await adb.destroy();
    }
  }
  // Access tokens of signed-in users (api/auth/tokens.ts): the environment's keys, else one kept here.
  let signingKeys = env.AUTH_SIGNING_KEYS;
  if (!signingKeys) {
    const k = await ensureSigningKeys(join(stateDir, 'signing-keys.json'));
    signingKeys = k.json;
    say(`${k.created ? 'access-token signing key made' : 'access-token signing key kept'} in ${join(stateDir, 'signing-keys.json')} (AUTH_SIGNING_KEYS)`);
  }
  const webhookSecret = stateSecret(stateDir, 'webhook-secret', 32);
  const common = {
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    DATABASE_URL: pg.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: namespace,
    VAULT_ADDR: vault.addr,
    VAULT_TOKEN: vault.token,
    S3_ENDPOINT: minio.endpoint,
    S3_BUCKET: minio.bucket,
    S3_REGION: minio.region,
    S3_ACCESS_KEY_ID: minio.accessKeyId,
    S3_SECRET_ACCESS_KEY: minio.secretAccessKey,
    TF_BINARY: env.TF_BINARY ?? tools.tofu!,
  };
  const node = (name: string, entry: string, extra: Record<string, string>): ManagedProcess => {
    const p = spawnService(name, process.execPath, [join(REPO_ROOT, 'dist', entry)], {
      env: { ...common, ...extra }, logFile: join(logDir, `${name}.log`),
    });
    stops.push({ name, stop: () => p.stop() });
    // `exited` only ever resolves.
    void p.exited.then((code) => {
      if (!shuttingDown) say(`${name} exited (${code}); see ${p.logFile}`);
    });
    return p;
  };

  const codec = node('codec-server', 'codec-server/main.js', {
    CODEC_PORT: String(ports.codec),
    CODEC_AUTH_TOKENS: codecToken,
    // The Web UI may be opened as 127.0.0.1 or as localhost: both origins may call the codec.
    CODEC_CORS_ORIGINS: [...new Set([temporal.uiUrl!, `http://localhost:${ports.temporalUi}`, `http://127.0.0.1:${ports.temporalUi}`])].join(','),
  });
  await waitFor('codec server', async () => (await fetch(`${codecUrl}/health`)).ok, { timeoutMs: 30_000, proc: codec });

  const apiUrl = `http://127.0.0.1:${ports.api}`;
  const api = node('api', 'api/main.js', {
    API_PORT: String(ports.api),
    GITHUB_WEBHOOK_SECRET: webhookSecret,
    // Development: repositories registered without a webhook secret of their own use this one.
    WEBHOOK_GLOBAL_SECRET_ALLOWED: '1',
    GIT_CACHE_DIR: join(stateDir, 'git'),
    AUTH_SIGNING_KEYS: signingKeys,
  });
  // GitHub commit statuses link to the runs of this api.
  node('worker-control', 'workers/main.js', { WORKER_KIND: 'control', WORKER_ID: 'control-dev', STACKLY_PUBLIC_URL: apiUrl });
  node('worker-exec', 'workers/main.js', {
    WORKER_KIND: 'execution', WORKER_ID: 'exec-dev', WORKER_FEATURES: 'terraform',
    WORKER_LABELS: env.WORKER_LABELS ?? '', STACKLY_WORK_DIR: join(stateDir, 'work'),
    // tofu jobs run as uids of their own when the dev stack runs as root; otherwise isolation is off
    // (the worker logs it loudly): a dev stack of an ordinary user cannot switch users.
    EXECUTION_ISOLATION: env.EXECUTION_ISOLATION ?? (process.geteuid?.() === 0 ? 'uid' : 'none'),
    ...(env.EXECUTION_UID_RANGE ? { EXECUTION_UID_RANGE: env.EXECUTION_UID_RANGE } : {}),
  });
  await waitFor('api', async () => (await fetch(`${apiUrl}/healthz`)).ok, { timeoutMs: 30_000, proc: api });

  say(`everything is up in ${since()}\n`);
  const lines = [
    ['API', apiUrl, `Authorization: Bearer <token in ${join(stateDir, 'api-token')}>`],
    ['', '', `first admin's API key in ${join(stateDir, 'api-token')} (the CLI's default); more: stackly api-key create <name> --role <role>`],
    ['', '', env.AUTH_OIDC_CLIENT_ID || env.AUTH_GITHUB_CLIENT_ID
      ? `sign in: stackly login (browser), or ${apiUrl}/auth/login`
      : 'sign-in through an identity provider: set AUTH_OIDC_* or AUTH_GITHUB_* (README "Signing in")'],
    ['GitHub webhook', `${apiUrl}/webhooks/github`, `secret in ${join(stateDir, 'webhook-secret')}`],
    ['Temporal Web UI', temporal.uiUrl!, `namespace ${namespace}; accounts made with POST /api/accounts get ${namespace}-<name>`],
    ['Temporal gRPC', temporal.address, ''],
    ['Codec endpoint', codecUrl, `token in ${join(stateDir, 'codec-token')}`],
    ['', '', `Web UI decoding: open ${codecUrl}/login and paste that token (every namespace) or an API key (its account's namespace);`],
    ['', '', 'then in the Web UI\'s codec settings turn on "Include cross-origin credentials".'],
    ['', '', `CLI: temporal workflow show --codec-endpoint ${codecUrl} --codec-auth "Bearer $(cat ${join(stateDir, 'codec-token')})" …`],
    ['Vault', vault.addr, `root token in ${join(stateDir, 'vault', 'init.json')}`],
    ['S3 (MinIO)', minio.endpoint, `bucket stackly, console ${minio.consoleUrl}, key stackly / ${join(stateDir, 'minio-secret')}`],
    ['Postgres', pg.url.replace(/:[^:@/]*@/, ':***@'), pg.kind],
    ['Logs', logDir, ''],
  ];
  for (const [what, url, note] of lines) process.stdout.write(`  ${what.padEnd(16)} ${url}${note ? `   ${note}` : ''}\n`);
  process.stdout.write('\nPress Ctrl-C to stop.\n');
}

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  say('stopping…');
  for (const s of stops.reverse()) {
    await s.stop().catch((e) => say(`stopping ${s.name}: ${String(e)}`));
  }
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch(async (e) => {
  process.stderr.write(`stackly dev: ${e instanceof Error ? e.message : String(e)}\n`);
  await shutdown(1);
});
