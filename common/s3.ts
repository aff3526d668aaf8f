/**
 * The S3 client of every process that touches the bucket (execution workers, the api's lock
 * commands, the migration of state objects), built from the process's validated config.
 */
import { S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Client(s: S3Settings): S3Client {
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
}

/** The S3 part of a process config; undefined when no keys are configured. */
export function s3SettingsFromConfig(cfg: {
  S3_ENDPOINT?: string; S3_REGION: string; S3_BUCKET: string; S3_ACCESS_KEY_ID?: string; S3_SECRET_ACCESS_KEY?: string;
}): S3Settings | undefined {
  if (!cfg.S3_ACCESS_KEY_ID || !cfg.S3_SECRET_ACCESS_KEY) return undefined;
  return {
    endpoint: cfg.S3_ENDPOINT ?? `https://s3.${cfg.S3_REGION}.amazonaws.com`, region: cfg.S3_REGION, bucket: cfg.S3_BUCKET,
    accessKeyId: cfg.S3_ACCESS_KEY_ID, secretAccessKey: cfg.S3_SECRET_ACCESS_KEY,
  };
}
