/**
 * GET /api/runs/:id/logs: tofu's redacted output of a run (every unit and phase, in order), from the
 * live log chunks the execution workers store while they work (db/repos/run-log-chunks.ts, sealed
 * with the account's key; activities/terraform/log-stream.ts).
 *
 * - `?unit=&phase=` filter; `?format=json` gives the chunks, else text/plain with `[unit phase] `
 *   before every line; `?after=<seq>` only what came after a chunk.
 * - `?follow=1` (or `Accept: text/event-stream`): server-sent events. What exists is sent, then new
 *   chunks as they are stored (polled every `pollMs`), then an `end` event once the run has ended
 *   (its workflow closed, or its operation in a final status). `id:` is the chunk's `seq`, which only
 *   grows along a run's log and is handed out in commit order, so reconnecting with `Last-Event-ID`
 *   gives neither duplicates nor gaps. Heartbeat comments every `heartbeatMs` keep proxies from
 *   closing a quiet stream. A client that goes away stops the stream; nothing is thrown.
 * - Chunks are read only in the caller's account's namespace, of a run of the caller's account.
 * - One stream is one request for the rate limits (api/rate-limit.ts): a reconnection is another.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { latestRunLogExecution, listRunLogChunks, type ChunkFilter } from '../../db/repos/run-log-chunks';
import { findRunOperation } from '../../db/repos/operations';
import type { RunLogChunkRow } from '../../db/tables/run-log-chunks';
import { prefixedLines, sseComment, sseEvent, sseRetry, type RunLogChunk } from '../../common/run-logs';
import type { RouteContext } from '../context';
import { ApiError } from '../errors';
import { parseBody } from '../validation';

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const query = z.strictObject({
  unit: z.string().regex(NAME, 'must be a unit name (letters, digits, _ . -)').optional(),
  phase: z.string().regex(NAME, 'must be a phase (init, plan, apply, …)').optional(),
  format: z.enum(['text', 'json']).optional(),
  follow: z.enum(['0', '1', 'true', 'false']).optional(),
  after: z.string().regex(/^\d{1,15}$/, 'must be a chunk number').optional(),
});

/** Operation statuses after which a run writes nothing more. */
const FINAL_OPERATION = new Set(['succeeded', 'failed', 'cancelled', 'superseded']);
const PAGE = 500;

export interface RunLogRouteOptions {
  /** How often a stream looks for new chunks (default 250 ms). */
  pollMs?: number;
  /** Heartbeat comment interval (default 15 s). */
  heartbeatMs?: number;
  /** How often a stream asks whether the run has ended (default 1 s). */
  endCheckMs?: number;
}

type OwnRun = (req: FastifyRequest, workflowId: string) => Promise<{ id: string | null; status: string | null }>;

export function registerRunLogRoutes(app: FastifyInstance, ctx: RouteContext, ownRun: OwnRun, o: RunLogRouteOptions = {}): void {
  const pollMs = o.pollMs ?? 250;
  const heartbeatMs = o.heartbeatMs ?? 15_000;
  const endCheckMs = o.endCheckMs ?? 1000;

  const cipherOf = (req: FastifyRequest) => {
    if (!ctx.logCipher) throw new ApiError(503, 'logs_unavailable', 'run logs are not readable here: the api has no Vault keyring for them');
    return ctx.logCipher(req.principal.namespace);
  };

  /** The workflow execution whose logs to show: the run's current one (Temporal), else the newest that wrote any. */
  const executionOf = async (req: FastifyRequest, runId: string): Promise<{ execution?: string; status?: string }> => {
    try {
      const client = ctx.temporal.forNamespace(req.principal.namespace);
      const d = await client.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => client.workflow.getHandle(runId).describe());
      return { execution: d.runId, status: d.status.name };
    } catch (e) {
      if (!(e instanceof WorkflowNotFoundError)) req.log.debug({ err: (e as Error).message, run: runId }, 'run logs: Temporal did not describe the run');
      return { execution: await latestRunLogExecution(ctx.db, req.principal.namespace, runId) };
    }
  };

  const decode = async (req: FastifyRequest, rows: RunLogChunkRow[]): Promise<RunLogChunk[]> => {
    const cipher = cipherOf(req);
    return Promise.all(rows.map(async (r) => ({
      seq: Number(r.seq), unit: r.unit, phase: r.phase, attempt: r.attempt, time: r.at.toISOString(),
      text: (await cipher.decrypt(r.text_enc)).toString('utf8'),
    })));
  };

  /** The chunks after `after` that pass the filter, a page at a time. */
  const readAfter = async (req: FastifyRequest, runId: string, f: ChunkFilter): Promise<RunLogChunk[]> => {
    const rows = await listRunLogChunks(ctx.db, req.principal.namespace, runId, { ...f, limit: PAGE });
    return decode(req, rows);
  };

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/api/runs/:id/logs', async (req, reply) => {
    const q = parseBody(query, req.query);
    const runId = req.params.id;
    await ownRun(req, runId);
    cipherOf(req);
    const accept = String(req.headers.accept ?? '');
    const follow = q.follow === '1' || q.follow === 'true' || (q.follow === undefined && accept.includes('text/event-stream'));
    let after = q.after !== undefined ? Number(q.after) : 0;
    const lastEventId = req.headers['last-event-id'];
    if (lastEventId !== undefined) {
      const v = String(lastEventId).trim();
      if (!/^\d{1,15}$/.test(v)) throw new ApiError(400, 'invalid_request', 'Last-Event-ID: must be the id of an event of this stream (a chunk number)');
      after = Math.max(after, Number(v));
    }
    const { execution } = await executionOf(req, runId);
    const filter: ChunkFilter = {
      ...(q.unit !== undefined ? { unit: q.unit } : {}), ...(q.phase !== undefined ? { phase: q.phase } : {}),
      ...(execution !== undefined ? { execution } : {}),
    };
    if (follow) return stream(req, reply, runId, filter, after);

    const readAll = async (f: ChunkFilter, from: number): Promise<RunLogChunk[]> => {
      const chunks: RunLogChunk[] = [];
      for (let cursor = from; ;) {
        const page = await readAfter(req, runId, { ...f, afterSeq: cursor });
        chunks.push(...page);
        if (page.length < PAGE) return chunks;
        cursor = page[page.length - 1]!.seq;
      }
    };
    let chunks = await readAll(filter, after);
    // The current execution has written nothing (yet): the newest execution that did.
    if (!chunks.length && execution !== undefined) {
      const latest = await latestRunLogExecution(ctx.db, req.principal.namespace, runId);
      if (latest !== undefined && latest !== execution) chunks = await readAll({ ...filter, execution: latest }, after);
    }
    if (q.format === 'json') return { run_id: runId, chunks };
    return reply.type('text/plain; charset=utf-8').send(prefixedLines(chunks));
  });

  /** Whether the run has ended, and how: its workflow closed, or its operation is final. */
  const endedStatus = async (req: FastifyRequest, runId: string): Promise<string | undefined> => {
    const op = await findRunOperation(ctx.db, req.principal.accountId, runId).catch(() => undefined);
    if (op && FINAL_OPERATION.has(op.status)) return op.status;
    try {
      const client = ctx.temporal.forNamespace(req.principal.namespace);
      const d = await client.withDeadline(Date.now() + ctx.temporalTimeoutMs, () => client.workflow.getHandle(runId).describe());
      return d.status.name === 'RUNNING' ? undefined : d.status.name.toLowerCase();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'not_found';
      return undefined; // Temporal unreachable: ask again later
    }
  };

  async function stream(req: FastifyRequest, reply: FastifyReply, runId: string, filter: ChunkFilter, from: number): Promise<void> {
    reply.hijack();
    const res = reply.raw;
    let open = true;
    let wake: (() => void) | undefined;
    const stop = () => { open = false; wake?.(); };
    res.on('close', stop);
    res.on('error', stop);
    const write = (s: string): void => { if (open && !res.writableEnded) res.write(s); };
    const sleep = (ms: number) => new Promise<void>((resolve) => {
      const t = setTimeout(() => { wake = undefined; resolve(); }, ms);
      wake = () => { clearTimeout(t); wake = undefined; resolve(); };
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    write(sseRetry(2000));
    let cursor = from;
    let lastBeat = Date.now();
    let lastEndCheck = 0;
    // The end is asked for beside the polling (Temporal may be slow to answer): never delaying chunks.
    let checking: Promise<void> | undefined;
    let endedAs: string | undefined;
    const drain = async (): Promise<void> => {
      for (;;) {
        const page = await readAfter(req, runId, { ...filter, afterSeq: cursor });
        for (const c of page) {
          write(sseEvent('chunk', { unit: c.unit, phase: c.phase, attempt: c.attempt, time: c.time, text: c.text }, c.seq));
          cursor = c.seq;
        }
        if (page.length < PAGE || !open) return;
      }
    };
    try {
      while (open) {
        // Seen ended before this drain began: every chunk of the run was stored before it ended.
        const endedBefore = endedAs;
        await drain();
        if (!open) break;
        if (endedBefore !== undefined) {
          write(sseEvent('end', { status: endedBefore }));
          break;
        }
        if (!checking && endedAs === undefined && Date.now() - lastEndCheck >= endCheckMs) {
          lastEndCheck = Date.now();
          checking = endedStatus(req, runId).then((s) => { endedAs = s; }, () => undefined).finally(() => { checking = undefined; wake?.(); });
        }
        if (Date.now() - lastBeat >= heartbeatMs) {
          write(sseComment('keep-alive'));
          lastBeat = Date.now();
        }
        if (endedAs === undefined) await sleep(pollMs);
      }
    } catch (e) {
      req.log.warn({ err: (e as Error).message, run: runId }, 'run log stream failed');
      // The client reconnects (retry:) and resumes from its Last-Event-ID.
      write(sseEvent('error', { message: 'reading the run log failed; reconnect to resume' }));
    } finally {
      res.off('close', stop);
      if (!res.writableEnded) res.end();
    }
  }
}
