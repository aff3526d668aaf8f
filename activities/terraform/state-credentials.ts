/**
 * Per-unit state credentials: every tofu run that touches a unit's state gets short-lived S3
 * credentials that reach only that state object and its lock (`<account>/<state-id>/<unit>.tfstate`
 * and `.tflock`), minted by STS AssumeRole with a session policy (MinIO serves STS at the S3
 * endpoint; AWS at its STS endpoint, `S3_STS_ENDPOINT`). The worker's own keys never reach tofu.
 * An endpoint without STS fails the activity (retryable) with a message saying so: there is no
 * fallback to the worker's keys.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { S3Settings } from '../../common/s3';
import { lockKey } from './store';

export interface StateCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration?: Date;
}

/** The S3 actions tofu's S3 backend needs on a state key and its lock object (`use_lockfile`). */
export const STATE_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] as const;

/**
 * The session policy of one unit's tofu run: read, write and delete that state object and its lock
 * object; list the bucket only for those keys and for `env:/` (tofu lists workspaces there before
 * it opens the state; Stackly uses no workspaces, so nothing is ever listed under it). Pure.
 */
export function stateSessionPolicy(bucket: string, stateKey: string): string {
  const arn = (k: string) => `arn:aws:s3:::${bucket}/${k}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: [...STATE_OBJECT_ACTIONS], Resource: [arn(stateKey), arn(lockKey(stateKey))] },
      {
        Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`],
        Condition: { StringEquals: { 's3:prefix': ['env:/', stateKey, lockKey(stateKey)] } },
      },
    ],
  });
}

export interface StateCredentialSettings {
  /** STS endpoint (default: the S3 endpoint, as MinIO serves it). */
  stsEndpoint?: string;
  /** The role assumed (AWS needs one whose policy allows the state bucket; MinIO ignores it). */
  roleArn?: string;
  /** Lifetime (900 … 43200 s): a tofu run longer than this can no longer write its state. */
  durationSeconds?: number;
}

export const DEFAULT_ROLE_ARN = 'arn:aws:iam::000000000000:role/stackly-state';

/** A function minting the credentials of one state key (a fresh STS session each call). */
export function stateCredentialMinter(s3: S3Settings, o: StateCredentialSettings = {}): (stateKey: string, session: string) => Promise<StateCredentials> {
  const endpoint = o.stsEndpoint ?? s3.endpoint;
  const sts = new STSClient({
    endpoint, region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 2,
  });
  return async (stateKey, session) => {
    let r;
    try {
      r = await sts.send(new AssumeRoleCommand({
        RoleArn: o.roleArn ?? DEFAULT_ROLE_ARN,
        // [\w+=,.@-]{2,64}
        RoleSessionName: session.replace(/[^\w+=,.@-]/g, '-').slice(0, 64).padEnd(2, '-'),
        DurationSeconds: o.durationSeconds ?? 7200,
        Policy: stateSessionPolicy(s3.bucket, stateKey),
      }));
    } catch (e) {
      const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      throw new Error(`minting state credentials for ${stateKey} (STS AssumeRole at ${endpoint}): ${err.name ?? 'Error'}: ${err.message ?? String(e)}${err.$metadata?.httpStatusCode ? ` (HTTP ${err.$metadata.httpStatusCode})` : ''}; tofu never gets the worker's own keys, so the endpoint must support AssumeRole with a session policy`);
    }
    const c = r.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error(`minting state credentials for ${stateKey} (STS AssumeRole at ${endpoint}): the answer holds no credentials`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, ...(c.Expiration ? { expiration: c.Expiration } : {}) };
  };
}
