/**
 * The test harness: starts the real services once per test run, lazily (a unit-only run starts
 * nothing), on free ports, in a temporary directory, and stops them after the run (root-hooks.ts).
 *
 * To reuse running services instead, set (all optional, each independently):
 *   STACKLY_TEST_TEMPORAL_ADDRESS (+ STACKLY_TEST_TEMPORAL_NAMESPACE, default "default")
 *   STACKLY_TEST_VAULT_ADDR + STACKLY_TEST_VAULT_TOKEN
 *   STACKLY_TEST_S3_ENDPOINT + STACKLY_TEST_S3_ACCESS_KEY_ID + STACKLY_TEST_S3_SECRET_ACCESS_KEY (+ STACKLY_TEST_S3_BUCKET)
 *   DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureBucket, ensureTransit, resolveTools, startMinio, startTemporal, startVault,
  type S3Settings, type ToolName,
} from '../../scripts/services';

export interface TemporalEndpoint { address: string; namespace: string; uiUrl?: string }
export interface VaultEndpoint { addr: string; token: string }

const env = process.env;
const stopFns: Array<() => Promise<void>> = [];
let stateDir: string | undefined;

/** One temporary directory per test run for service data and logs (kept when KEEP_TEST_STATE=1). */
export function testStateDir(): string {
  if (!stateDir) {
    stateDir = mkdtempSync(join(tmpdir(), 'stackly-test-'));
    stopFns.push(async () => {
      if (env.KEEP_TEST_STATE !== '1') rmSync(stateDir!, { recursive: true, force: true });
    });
  }
  return stateDir;
}

/**
 * A directory the tests' tofu jobs may write into (mode 1777 under the system temp dir): since issue
 * 15 every job runs as a uid of its own, which cannot enter {@link testStateDir} (0700, it holds the
 * services' secrets). Tests read what a stack's `local-exec` wrote there, as proof of its effect.
 */
export function jobWritableDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `stackly-test-${prefix}-`));
  chmodSync(dir, 0o1777);
  stopFns.push(async () => {
    if (env.KEEP_TEST_STATE !== '1') rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export const tool = (name: ToolName) => resolveTools([name]).then((t) => t[name]!);

export const temporal = once(async (): Promise<TemporalEndpoint> => {
  if (env.STACKLY_TEST_TEMPORAL_ADDRESS) {
    return { address: env.STACKLY_TEST_TEMPORAL_ADDRESS, namespace: env.STACKLY_TEST_TEMPORAL_NAMESPACE ?? 'default' };
  }
  const svc = await startTemporal({ bin: await tool('temporal'), stateDir: testStateDir(), namespace: 'stackly-test', headless: true });
  stopFns.push(() => svc.stop());
  return { address: svc.address, namespace: svc.namespace };
});

export const vault = once(async (): Promise<VaultEndpoint> => {
  if (env.STACKLY_TEST_VAULT_ADDR && env.STACKLY_TEST_VAULT_TOKEN) {
    await ensureTransit(env.STACKLY_TEST_VAULT_ADDR, env.STACKLY_TEST_VAULT_TOKEN);
    return { addr: env.STACKLY_TEST_VAULT_ADDR, token: env.STACKLY_TEST_VAULT_TOKEN };
  }
  const svc = await startVault({ bin: await tool('vault'), stateDir: testStateDir(), mode: 'dev' });
  stopFns.push(() => svc.stop());
  return { addr: svc.addr, token: svc.token };
});

export const s3 = once(async (): Promise<S3Settings> => {
  if (env.STACKLY_TEST_S3_ENDPOINT) {
    const s: S3Settings = {
      endpoint: env.STACKLY_TEST_S3_ENDPOINT,
      region: env.STACKLY_TEST_S3_REGION ?? 'us-east-1',
      bucket: env.STACKLY_TEST_S3_BUCKET ?? 'stackly-test',
      accessKeyId: env.STACKLY_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.STACKLY_TEST_S3_SECRET_ACCESS_KEY ?? '',
    };
    await ensureBucket(s);
    return s;
  }
  const svc = await startMinio({
    bin: await tool('minio'), stateDir: testStateDir(), bucket: 'stackly-test',
    accessKeyId: 'stackly-test', secretAccessKey: 'stackly-test-secret',
  });
  stopFns.push(() => svc.stop());
  return svc;
});

export const tofu = once(async (): Promise<string> => env.TF_BINARY ?? tool('tofu'));

export const databaseUrl = (): string => env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** For root-hooks.ts: stop everything started, last first. */
export async function stopAllServices(): Promise<void> {
  while (stopFns.length) {
    const fn = stopFns.pop()!;
    await fn().catch((e) => process.stderr.write(`stopping a test service: ${String(e)}\n`));
  }
}
