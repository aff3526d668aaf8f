/** MinIO as the S3 endpoint: per-unit state, plan files, logs. */
import { CreateBucketCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnService, waitFor, type ManagedProcess } from './process';

export interface MinioOptions {
  bin: string;
  stateDir: string;
  dataDir?: string;
  port?: number;
  consolePort?: number;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  region?: string;
  timeoutMs?: number;
}

import { s3Client, type S3Settings } from '../../common/s3';

export { s3Client, type S3Settings };

export interface MinioService extends S3Settings {
  consoleUrl: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

/** Creates the bucket (versioned, so earlier state objects can be recovered) when missing. */
export async function ensureBucket(s: S3Settings): Promise<void> {
  const client = s3Client(s);
  try {
    await client.send(new CreateBucketCommand({ Bucket: s.bucket }));
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw new Error(`creating bucket ${s.bucket}: ${(e as Error).message}`);
  }
  await client.send(new PutBucketVersioningCommand({ Bucket: s.bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  client.destroy();
}

export async function startMinio(o: MinioOptions): Promise<MinioService> {
  const port = o.port ?? (await freePort());
  const consolePort = o.consolePort ?? (await freePort());
  const dataDir = o.dataDir ?? join(o.stateDir, 'minio');
  mkdirSync(dataDir, { recursive: true });
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = spawnService('minio', o.bin, [
    'server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, dataDir,
  ], {
    env: { MINIO_ROOT_USER: o.accessKeyId, MINIO_ROOT_PASSWORD: o.secretAccessKey, MINIO_UPDATE: 'off', HOME: o.stateDir },
    logFile: join(o.stateDir, 'minio.log'),
  });
  await waitFor(`MinIO on ${endpoint}`, async () => (await fetch(`${endpoint}/minio/health/live`)).ok, { timeoutMs: o.timeoutMs ?? 60_000, proc });
  const settings: S3Settings = { endpoint, region: o.region ?? 'us-east-1', bucket: o.bucket, accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey };
  await waitFor(`bucket ${o.bucket} on ${endpoint}`, async () => { await ensureBucket(settings); return true; }, { timeoutMs: 30_000, proc });
  return { ...settings, consoleUrl: `http://127.0.0.1:${consolePort}`, proc, stop: () => proc.stop() };
}
