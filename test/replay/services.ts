/**
 * Temporal, Vault (dev, in memory) and MinIO on fixed addresses, for recording histories with code
 * that has no recording hook (test/README.md "Replay tests"): the old code's suites use them through
 * the harness's STACKLY_TEST_* variables, and test/replay/fetch.ts decodes with the same Vault
 * afterwards. Runs until Ctrl-C / SIGTERM (Vault's keys, and with them the payloads, die with it).
 *
 *   npx tsx test/replay/services.ts <state dir>      # writes <state dir>/env.sh (mode 600), then: source it
 *
 * Ports: STACKLY_REPLAY_PORT_BASE (default 17000) + 233 Temporal, + 200 Vault, + 900 MinIO.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveTools, startMinio, startTemporal, startVault } from '../../scripts/services';

async function main(): Promise<void> {
  const stateDir = resolve(process.argv[2] ?? '/tmp/stackly-replay-services');
  const base = Number(process.env.STACKLY_REPLAY_PORT_BASE ?? 17000);
  mkdirSync(stateDir, { recursive: true });
  const tools = await resolveTools(['temporal', 'vault', 'minio']);
  const [t, v, m] = await Promise.all([
    startTemporal({ bin: tools.temporal!, stateDir, namespace: 'stackly-replay', headless: true, port: base + 233 }),
    startVault({ bin: tools.vault!, stateDir, mode: 'dev', port: base + 200 }),
    startMinio({
      bin: tools.minio!, stateDir, bucket: 'stackly-test', accessKeyId: 'stackly-replay', secretAccessKey: 'stackly-replay-minio', port: base + 900,
    }),
  ]);
  const env = {
    STACKLY_TEST_TEMPORAL_ADDRESS: t.address, STACKLY_TEST_TEMPORAL_NAMESPACE: t.namespace,
    STACKLY_TEST_VAULT_ADDR: v.addr, STACKLY_TEST_VAULT_TOKEN: v.token,
    STACKLY_TEST_S3_ENDPOINT: m.endpoint, STACKLY_TEST_S3_ACCESS_KEY_ID: m.accessKeyId, STACKLY_TEST_S3_SECRET_ACCESS_KEY: m.secretAccessKey,
  };
  const file = join(stateDir, 'env.sh');
  writeFileSync(file, Object.entries(env).map(([k, val]) => `export ${k}=${val}`).join('\n') + '\n', { mode: 0o600 });
  process.stdout.write(`Temporal ${t.address} (namespace ${t.namespace}), Vault ${v.addr}, MinIO ${m.endpoint}; source ${file}\n`);
  const stop = () => { void Promise.all([t.stop(), v.stop(), m.stop()]).finally(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => undefined, 1 << 30);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
