/**
 * Sensitive outputs travel as references, not values, in Temporal history (issue 15): an activity
 * that reads unit outputs (plan, apply, readUnitOutputs, evaluateOutputs) stores the value of every
 * sensitive one encrypted in S3 (`runs/<runId>/outputs/…`, the namespace's BlobCipher) and returns
 * `{ "$stacklyRef": "<key>" }` in its place; an activity given inputs resolves references back to
 * values on the worker. The workflow only forwards values, so it never sees the difference. Values
 * recorded before this (plain values in older histories) pass through unchanged.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { UnitOutput } from '../../workflows/model/terraform';
import type { BlobCipher } from './store';

export const REF_FIELD = '$stacklyRef';
export type SensitiveRef = { [REF_FIELD]: string };

export interface RefStore {
  cipher: BlobCipher;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
}

export const isSensitiveRef = (v: unknown): v is SensitiveRef =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as Record<string, unknown>)[REF_FIELD] === 'string';

const REF_KEY = /^runs\/[A-Za-z0-9_.:@=-]+\/outputs\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\.json\.enc$/;
const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);

/** Outputs with every sensitive value stored and replaced by its reference. */
export async function sealSensitiveOutputs(store: RefStore, runId: string, unit: string, outputs: Record<string, UnitOutput>): Promise<Record<string, UnitOutput>> {
  const out: Record<string, UnitOutput> = {};
  for (const [name, o] of Object.entries(outputs)) {
    if (!o.sensitive || isSensitiveRef(o.value)) { out[name] = o; continue; }
    const key = `runs/${safe(runId)}/outputs/${safe(unit)}/${safe(name)}-${randomUUID()}.json.enc`;
    await store.put(key, await store.cipher.encrypt(Buffer.from(JSON.stringify({ value: o.value ?? null }))));
    out[name] = { ...o, value: { [REF_FIELD]: key } };
  }
  return out;
}

/** A value with its reference (if it is one) resolved; only keys of run outputs are accepted. */
export async function resolveRef(store: RefStore, v: unknown): Promise<unknown> {
  if (!isSensitiveRef(v)) return v;
  const key = v[REF_FIELD];
  if (!REF_KEY.test(key)) throw ApplicationFailure.nonRetryable(`a sensitive output reference names ${key.slice(0, 120)}, which is not a run output`, 'BadOutputRef');
  const sealed = await store.get(key);
  if (!sealed) throw ApplicationFailure.nonRetryable(`the sensitive output ${key} is not in the bucket`, 'OutputRefMissing');
  return (JSON.parse((await store.cipher.decrypt(sealed)).toString('utf8')) as { value: unknown }).value;
}

export async function resolveRefs(store: RefStore, values: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) out[k] = await resolveRef(store, v);
  return out;
}
