/**
 * S3 objects of runs (encrypted plans, redacted logs) and of state locks, and client-side encryption
 * of plan files and plan JSON with the Vault Transit envelope of common/codec.
 */
import {
  DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { VaultKeyring } from '../../common/codec';

/** Encrypts and decrypts blobs (plan files, plan JSON) before they leave the worker. */
export interface BlobCipher {
  encrypt(plain: Buffer): Promise<Buffer>;
  decrypt(sealed: Buffer): Promise<Buffer>;
}

/**
 * A BlobCipher over the namespace's payload codec: the blob becomes one payload, sealed with
 * AES-256-GCM under a Transit-wrapped data key (common/codec/envelope.ts), serialised as protobuf.
 * The wrapped key and its Transit key version travel inside, so a key rotation does not strand plans.
 */
export function blobCipherFromKeyring(keyring: VaultKeyring, namespace: string): BlobCipher {
  // Strict: a blob that is not sealed (written around the cipher) is refused, never taken as plaintext.
  const codec = keyring.codec(namespace, { requireEncrypted: true });
  const P = temporal.api.common.v1.Payload;
  return {
    async encrypt(plain) {
      const payload: Payload = { metadata: { encoding: Buffer.from('binary/plain') }, data: plain };
      const [sealed] = await codec.encode([payload]);
      return Buffer.from(P.encode({ metadata: sealed!.metadata ?? {}, data: sealed!.data ?? new Uint8Array() }).finish());
    },
    async decrypt(sealed) {
      const p = P.decode(sealed);
      const [plain] = await codec.decode([{ metadata: { ...p.metadata }, data: p.data }]);
      return Buffer.from(plain!.data ?? new Uint8Array());
    },
  };
}

const isNotFound = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
};

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer | string, contentType = 'application/octet-stream'): Promise<void> {
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
  } catch (e) {
    throw new Error(`uploading s3://${bucket}/${key}: ${(e as Error).message}`);
  }
}

/** The object's bytes, or undefined when it does not exist. */
export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw new Error(`downloading s3://${bucket}/${key}: ${(e as Error).message}`);
  }
}

export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (e) {
    if (!isNotFound(e)) throw new Error(`deleting s3://${bucket}/${key}: ${(e as Error).message}`);
  }
}

/** The S3 backend's lock object of a state key (`use_lockfile = true`). */
export const lockKey = (stateKey: string): string => `${stateKey}.tflock`;
/** Stackly's claim on a lock: which worker and run hold it (tofu's `Who` is only user@hostname). */
export const lockClaimKey = (stateKey: string): string => `${stateKey}.tflock.stackly`;

export interface LockClaim {
  lockId: string;
  workerId: string;
  /**
   * The worker process (its incarnation in `workers`): a process restarted under the same worker id
   * is another incarnation, so it knows this lock's holder is dead. Absent in claims of older versions.
   */
  incarnation?: string;
  runId: string;
  unit: string;
  phase: string;
  claimedAt: string;
}

export interface StateLock {
  /** tofu's LockInfo. */
  id: string;
  operation: string;
  who: string;
  version: string;
  created: string;
  path: string;
  info: string;
  /** Worker (process) and run holding it, when Stackly recorded its claim for this very lock id. */
  holder?: LockHolder;
}

/** Who holds a lock: its claim without the lock id (incarnation absent in claims of older versions). */
export type LockHolder = Omit<LockClaim, 'lockId'>;

/**
 * The current lock of a state key, parsed, with the worker and run that hold it when known, or
 * undefined when the state is not locked. `key` is the state key (`stateKey(...)`), not the lock key.
 */
export async function readStateLock(s3: S3Client, bucket: string, key: string): Promise<StateLock | undefined> {
  const raw = await getObject(s3, bucket, lockKey(key));
  if (!raw) return undefined;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    j = {};
  }
  const s = (k: string): string => (typeof j[k] === 'string' ? (j[k] as string) : '');
  const lock: StateLock = { id: s('ID'), operation: s('Operation'), who: s('Who'), version: s('Version'), created: s('Created'), path: s('Path'), info: s('Info') };
  const claimRaw = await getObject(s3, bucket, lockClaimKey(key));
  if (claimRaw) {
    try {
      const c = JSON.parse(claimRaw.toString('utf8')) as LockClaim;
      if (c.lockId && c.lockId === lock.id && typeof c.workerId === 'string') {
        lock.holder = {
          workerId: c.workerId, ...(typeof c.incarnation === 'string' && c.incarnation ? { incarnation: c.incarnation } : {}),
          runId: c.runId, unit: c.unit, phase: c.phase, claimedAt: c.claimedAt,
        };
      }
    } catch { /* a torn claim is no claim */ }
  }
  return lock;
}

/** Deletes a lock and its claim (for breaking the lock of a dead holder). */
export async function deleteStateLock(s3: S3Client, bucket: string, key: string): Promise<void> {
  await deleteObject(s3, bucket, lockKey(key));
  await deleteObject(s3, bucket, lockClaimKey(key));
}

/**
 * Breaks the lock with id `lockId` of a state key, as `tofu force-unlock` does: only if that very lock
 * is still there (read again just before: a lock released and taken again since is another lock, and
 * is left alone), then its claim when the claim names it. False when the lock is no longer that one.
 */
export async function breakStateLock(s3: S3Client, bucket: string, key: string, lockId: string): Promise<boolean> {
  const now = await readStateLock(s3, bucket, key);
  if (!now || now.id !== lockId) return false;
  await deleteObject(s3, bucket, lockKey(key));
  const claim = await getObject(s3, bucket, lockClaimKey(key));
  let claimed: string | undefined;
  try {
    claimed = claim ? (JSON.parse(claim.toString('utf8')) as LockClaim).lockId : undefined;
  } catch { /* a torn claim is no claim */ }
  if (claim && (claimed === undefined || claimed === lockId)) await deleteObject(s3, bucket, lockClaimKey(key));
  return true;
}
