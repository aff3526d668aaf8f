/**
 * The data step of migration 0002: moves each state's Terraform state objects from the prefix that
 * was derived from names in stack.hcl (`<account>/<stack>/<state>/`) to the one derived from its id
 * (`<account>/<state-id>/`), then forgets the old prefix. Run by `npm run migrate` when S3 is
 * configured; runs of a state whose objects have not moved refuse to plan (activities/runs.ts).
 *
 * Idempotent and safe to repeat: an object already at its new key with the same bytes counts as
 * moved; a state whose old prefix holds a lock (a run in flight) is left for the next attempt.
 */
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Db } from './index';

export interface MoveReport {
  moved: Array<{ stateId: string; from: string; to: string; objects: number }>;
  skipped: Array<{ stateId: string; from: string; reason: string }>;
}

async function list(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function bytes(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined;
    throw e;
  }
}

export async function pendingStateMoves(db: Db): Promise<number> {
  const r = await db.selectFrom('stack_states').select((eb) => eb.fn.countAll<string>().as('n')).where('legacy_tf_state_key', 'is not', null).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function moveLegacyStateObjects(db: Db, s3: S3Client, bucket: string): Promise<MoveReport> {
  const report: MoveReport = { moved: [], skipped: [] };
  const rows = await db.selectFrom('stack_states').select(['id', 'tf_state_key', 'legacy_tf_state_key'])
    .where('legacy_tf_state_key', 'is not', null).orderBy('created_at').execute();
  for (const row of rows) {
    const from = row.legacy_tf_state_key!;
    const to = row.tf_state_key;
    const keys = await list(s3, bucket, from);
    if (keys.some((k) => k.endsWith('.tflock'))) {
      report.skipped.push({ stateId: row.id, from, reason: 'a state lock is held under the old prefix (a run in flight?); try again when it is released' });
      continue;
    }
    let conflict: string | undefined;
    for (const k of keys) {
      const target = to + k.slice(from.length);
      const existing = await bytes(s3, bucket, target);
      if (existing) {
        const source = await bytes(s3, bucket, k);
        if (source && !existing.equals(source)) { conflict = target; break; }
        continue;
      }
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: target, CopySource: `${bucket}/${k.split('/').map(encodeURIComponent).join('/')}` }));
    }
    if (conflict) {
      report.skipped.push({ stateId: row.id, from, reason: `${conflict} already exists with other contents; resolve by hand` });
      continue;
    }
    for (const k of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    await db.updateTable('stack_states').set({ legacy_tf_state_key: null }).where('id', '=', row.id).where('legacy_tf_state_key', '=', from).execute();
    report.moved.push({ stateId: row.id, from, to, objects: keys.length });
  }
  return report;
}
