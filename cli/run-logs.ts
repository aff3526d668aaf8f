/**
 * `stackly run logs <run-id> [--unit U] [--phase P] [-f]`: tofu's redacted output of a run, each line
 * as `[unit phase] line`. With `-f` the log event stream is followed until the run ends; a dropped
 * connection is opened again with `Last-Event-ID` (no line twice, none lost), waiting a little longer
 * each time (and as long as a 429/503's Retry-After says).
 */
import type { ApiClient, RunLogFilter } from './api-client';
import { ApiRequestError } from './api-client';
import { lastLines, LinePrefixer, prefixedLines, SseParser, type RunLogChunk, type RunLogEnd } from '../common/run-logs';

export interface FollowOptions {
  /** Where the prefixed lines go. */
  out(text: string): void;
  /** Notices (reconnecting) go here. */
  note?(text: string): void;
  /** A stream that says nothing (not even a heartbeat) this long is taken as dropped (default 45 s). */
  idleMs?: number;
  /** Consecutive failed connections before giving up (default 30). */
  maxFailures?: number;
  /** First wait before reconnecting, doubled up to 10 s (default 500 ms). */
  backoffMs?: number;
  sleep?(ms: number): Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Follows the run's log until its `end` event; resolves with how the run ended. */
export async function followRunLog(client: ApiClient, runId: string, filter: RunLogFilter, o: FollowOptions): Promise<RunLogEnd> {
  const prefixer = new LinePrefixer();
  const sleep = o.sleep ?? defaultSleep;
  let lastEventId: string | undefined;
  let failures = 0;
  for (;;) {
    let retryAfterMs: number | undefined;
    try {
      const ended = await readOnce();
      if (ended) {
        o.out(prefixer.end());
        return ended;
      }
      // The stream closed without an end (the api restarted, a proxy cut it): reconnect.
    } catch (e) {
      if (e instanceof ApiRequestError && e.status !== 0 && e.status !== 429 && e.status < 500) throw e;
      retryAfterMs = (e as { retryAfterMs?: number }).retryAfterMs;
      o.note?.(`stackly: the log stream dropped (${(e as Error).message}); reconnecting\n`);
    }
    failures++;
    if (failures > (o.maxFailures ?? 30)) throw new Error(`following the log of run ${runId}: the stream dropped ${failures - 1} times in a row; giving up (stackly run logs ${runId} shows what there is)`);
    await sleep(retryAfterMs ?? Math.min(10_000, (o.backoffMs ?? 500) * 2 ** Math.min(failures - 1, 5)));
  }

  /** One connection: its chunks are printed; the run's end when the stream said so, else undefined. */
  async function readOnce(): Promise<RunLogEnd | undefined> {
    const abort = new AbortController();
    const res = await client.openRunLogStream(runId, { ...filter, ...(lastEventId ? { lastEventId } : {}), signal: abort.signal });
    const idleMs = o.idleMs ?? 45_000;
    let idle = setTimeout(() => abort.abort(), idleMs);
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      if (!res.body) return undefined;
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), idleMs);
        for (const m of parser.push(decoder.decode(piece, { stream: true }))) {
          if (m.event === 'chunk') {
            const c = JSON.parse(m.data) as RunLogChunk;
            o.out(prefixer.push(c));
            // Only after its text is out: a reconnection resumes after the last chunk printed.
            if (m.id !== undefined) lastEventId = m.id;
            failures = 0;
          } else if (m.event === 'end') {
            return JSON.parse(m.data) as RunLogEnd;
          } else if (m.event === 'error') {
            throw new Error((JSON.parse(m.data) as { message?: string }).message ?? 'the api reported an error');
          }
        }
      }
      return undefined;
    } catch (e) {
      if (abort.signal.aborted) throw new Error(`nothing heard for ${Math.round(idleMs / 1000)} s`);
      throw e;
    } finally {
      clearTimeout(idle);
      abort.abort();
    }
  }
}

/** The run's log as it is now, prefixed. */
export async function printRunLog(client: ApiClient, runId: string, filter: RunLogFilter, out: (s: string) => void): Promise<void> {
  const body = await client.runLogs(runId, filter);
  out(prefixedLines(body.chunks));
}

/** The last `lines` lines of each failed unit's log (of the review plan when no unit failed), for `run start --wait`. */
export async function failedUnitTails(client: ApiClient, runId: string, failedUnits: string[], lines = 40): Promise<string> {
  const units = failedUnits.length ? failedUnits.slice(0, 3) : ['_review'];
  let out = '';
  for (const unit of units) {
    try {
      const { chunks } = await client.runLogs(runId, { unit });
      if (!chunks.length) continue;
      out += `--- the last ${lines} lines of unit ${unit}'s log (all of it: stackly run logs ${runId} --unit ${unit}) ---\n`;
      out += lastLines(prefixedLines(chunks), lines);
    } catch (e) {
      out += `--- the log of unit ${unit} could not be read: ${(e as Error).message}\n`;
    }
  }
  return out;
}
