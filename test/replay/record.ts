/**
 * Recording workflow histories for the replay test (test/replay/histories.test.ts).
 *
 * The suites that run real workflows call `recordSuiteHistories` before they stop when
 * STACKLY_RECORD_HISTORIES=<dir> is set: every closed workflow the suite ran (its control task queue,
 * started since the suite began) is fetched and written as `<dir>/<workflowType>/<label>--<id>--<run id prefix>.json`
 * in the proto JSON that `historyFromJSON` reads. Payloads are encrypted with a Vault Transit key that
 * lives only as long as the test run's Vault, so every Payload of the history (inputs, results,
 * signals, markers, failures' `encodedAttributes`, …) is written *decoded* through the suite's codec:
 * a replay then needs no Vault, only the default data converter. They hold test data only.
 *
 * `test/replay/fetch.ts` does the same from the command line, for histories recorded by code that has
 * no hook (an older commit run against services you started yourself).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { historyToJSON } from './history-json';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

/** The directory to record into, or undefined when recording is off. */
export function recordingDir(): string | undefined {
  return process.env.STACKLY_RECORD_HISTORIES || undefined;
}

// @temporalio/proto's message types are protobufjs reflection objects: decoded messages are instances of `.ctor`.
const PayloadCtor = (temporal.api.common.v1.Payload as unknown as { ctor?: new () => object }).ctor;
const PAYLOAD_KEYS = new Set(['metadata', 'data', 'externalPayloads']);
const isPayload = (v: unknown): v is Payload =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)
  && ((PayloadCtor !== undefined && v instanceof PayloadCtor)
    || ('metadata' in v && 'data' in v && Object.keys(v).every((k) => PAYLOAD_KEYS.has(k))));

/**
 * Every Payload of `history` passed through `codec.decode` (in one batch), in place. Payloads that are
 * not encrypted pass through the codec unchanged. Returns how many payloads were decoded.
 */
export async function decodeHistory(history: History, codec: PayloadCodec): Promise<number> {
  const found: Array<{ parent: Record<string | number, unknown>; key: string | number; payload: Payload }> = [];
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node)) return;
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        if (isPayload(v)) found.push({ parent: node as unknown as Record<number, unknown>, key: i, payload: v });
        else walk(v);
      });
      return;
    }
    for (const [k, v] of Object.entries(node)) {
      if (isPayload(v)) found.push({ parent: node as Record<string, unknown>, key: k, payload: v });
      else walk(v);
    }
  };
  walk(history);
  if (found.length === 0) return 0;
  const decoded = await codec.decode(found.map((f) => f.payload));
  found.forEach((f, i) => { f.parent[f.key] = decoded[i]; });
  return found.length;
}

export interface RecordedWorkflow {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  file: string;
}

/**
 * Fetches the histories of the closed workflows matching `query` (a visibility query), decodes them
 * and writes `<dir>/<type>/<label>--<workflow id>--<run id prefix>.json`. Running workflows are skipped (a replay
 * of a history cut short proves little).
 */
export async function recordHistories(o: { client: Client; codec: PayloadCodec; dir: string; query: string; label: string }): Promise<RecordedWorkflow[]> {
  const out: RecordedWorkflow[] = [];
  for await (const wf of o.client.workflow.list({ query: o.query })) {
    if (wf.status.name === 'RUNNING') continue;
    const history = await o.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    await decodeHistory(history, o.codec);
    const typeDir = join(o.dir, wf.type);
    mkdirSync(typeDir, { recursive: true });
    // A workflow id may have run more than once (a state's queue starts again with its next request).
    const file = join(typeDir, `${o.label}--${wf.workflowId.replace(/[^A-Za-z0-9._-]+/g, '_')}--${wf.runId.slice(0, 8)}.json`);
    writeFileSync(file, `${historyToJSON(history)}\n`);
    out.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, status: wf.status.name, file });
  }
  return out;
}

/**
 * The visibility query of one suite's workflows: its control task queue, started since it began,
 * closed; only the given workflow types when `types` is set.
 */
export function suiteQuery(taskQueue: string, since: Date, types?: string[]): string {
  const typeFilter = types?.length ? ` AND WorkflowType IN (${types.map((t) => `'${t}'`).join(', ')})` : '';
  return `TaskQueue = '${taskQueue}' AND StartTime >= '${since.toISOString()}' AND ExecutionStatus != 'Running'${typeFilter}`;
}

/**
 * The recording hook of a suite's stop(): when STACKLY_RECORD_HISTORIES is set, records every closed
 * workflow the suite ran on `taskQueue` since `since` (only `types` when given: suites whose worker
 * registers test stand-ins under a real workflow's name leave those out). A failure to record is
 * reported, never thrown (the suite's own result stands).
 */
export async function recordSuiteHistories(o: {
  client: Client; codec: PayloadCodec; taskQueue: string; since: Date; label: string; types?: string[];
}): Promise<void> {
  const dir = recordingDir();
  if (!dir) return;
  try {
    // Visibility is eventually consistent: give the last closes a moment to be listed.
    await new Promise((r) => setTimeout(r, 1500));
    const got = await recordHistories({ client: o.client, codec: o.codec, dir, query: suiteQuery(o.taskQueue, o.since, o.types), label: o.label });
    process.stderr.write(`recorded ${got.length} workflow histories of ${o.label} into ${dir}\n`);
  } catch (e) {
    process.stderr.write(`recording the workflow histories of ${o.label} failed: ${String(e)}\n`);
  }
}
