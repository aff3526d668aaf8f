/**
 * Live logs of tofu runs (issue 17): what a unit's RunLog writes (already redacted) is batched and
 * appended to Postgres (`run_log_chunks`) while tofu works, sealed with the account's key, so
 * GET /api/runs/:id/logs can show it as it happens. After each activity the whole log also goes to
 * S3, sealed the same way (index.ts uploadLog).
 *
 * - Redaction of a stream: a secret may arrive split over two reads of tofu's pipe. RunLog holds back
 *   the end of what it got until no secret can straddle the cut ({@link redactionSafeCut}): complete
 *   lines go out at once when no secret spans lines, otherwise the last `longest secret - 1`
 *   characters wait for more output (or for tofu's exit).
 * - Batching ({@link ChunkBatcher}): consecutive text of one phase is merged into one chunk of at most
 *   `maxChunkBytes`; a batch is written `flushMs` after its first text, or at once past `maxBatchBytes`.
 *   Writes are serialised, so chunks reach Postgres in the order they were written.
 * - A live log never fails or blocks the activity: a failed write is retried with the next batch; past
 *   `maxBufferedBytes` the oldest waiting text is dropped with a notice (the S3 copy stays complete).
 */
import type { Db } from '../../db';
import { appendRunLogChunks } from '../../db/repos/run-log-chunks';
import type { BlobCipher } from './store';

/**
 * How much of `text` may be redacted and let out now: every secret occurring in the part before the
 * cut lies wholly before it, and no secret can begin before it and be completed by later text.
 */
export function redactionSafeCut(text: string, secrets: readonly string[]): number {
  if (secrets.length === 0) return text.length;
  const longest = secrets.reduce((m, s) => Math.max(m, s.length), 0);
  let cut = text.length - (longest - 1);
  // Secrets without a line break cannot span lines: every complete line can go.
  if (!secrets.some((s) => s.includes('\n'))) cut = Math.max(cut, text.lastIndexOf('\n') + 1);
  if (cut <= 0) return 0;
  // A secret that starts before the cut and ends after it is let out whole later.
  for (let moved = true; moved && cut > 0;) {
    moved = false;
    for (const s of secrets) {
      const i = text.indexOf(s, Math.max(0, cut - s.length + 1));
      if (i !== -1 && i < cut && i + s.length > cut) {
        cut = i;
        moved = true;
      }
    }
  }
  return cut;
}

/** One piece of a unit's live log. */
export interface LogChunk {
  unit: string;
  phase: string;
  attempt: number;
  /** When its first text was written. */
  at: Date;
  text: string;
}

export interface ChunkBatcherOptions {
  /** Durably stores a batch, in order; a rejection keeps the batch for the next try. */
  write(chunks: LogChunk[]): Promise<void>;
  /** A batch is written this long after its first text (default 300 ms). */
  flushMs?: number;
  /** …or at once when this many bytes wait (default 32 KiB). */
  maxBatchBytes?: number;
  /** One chunk holds at most this many bytes of text (default 16 KiB). */
  maxChunkBytes?: number;
  /** While writes fail, at most this much waits; older text is dropped (default 4 MiB). */
  maxBufferedBytes?: number;
  onError?(e: Error): void;
  now?: () => Date;
}

const bytesOf = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Splits a text into pieces of at most `max` UTF-8 bytes, never inside a character. */
export function splitText(text: string, max: number): string[] {
  if (bytesOf(text) <= max) return [text];
  const out: string[] = [];
  let piece = '';
  let size = 0;
  for (const ch of text) {
    const b = bytesOf(ch);
    if (size + b > max && piece) {
      out.push(piece);
      piece = '';
      size = 0;
    }
    piece += ch;
    size += b;
  }
  if (piece) out.push(piece);
  return out;
}

/** Collects a log's text into chunks and writes them in batches, in order (see the module comment). */
export class ChunkBatcher {
  private waiting: LogChunk[] = [];
  private waitingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private dropped = 0;
  private readonly flushMs: number;
  private readonly maxBatchBytes: number;
  private readonly maxChunkBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly now: () => Date;

  constructor(private readonly o: ChunkBatcherOptions) {
    this.flushMs = o.flushMs ?? 300;
    this.maxBatchBytes = o.maxBatchBytes ?? 32 * 1024;
    this.maxChunkBytes = o.maxChunkBytes ?? 16 * 1024;
    this.maxBufferedBytes = o.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.now = o.now ?? (() => new Date());
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number { return this.waitingBytes; }

  add(unit: string, phase: string, attempt: number, text: string): void {
    if (!text || this.closed) return;
    const at = this.now();
    for (const piece of splitText(text, this.maxChunkBytes)) {
      const last = this.waiting[this.waiting.length - 1];
      const size = bytesOf(piece);
      if (last && last.unit === unit && last.phase === phase && last.attempt === attempt && bytesOf(last.text) + size <= this.maxChunkBytes) {
        last.text += piece;
      } else {
        this.waiting.push({ unit, phase, attempt, at, text: piece });
      }
      this.waitingBytes += size;
    }
    this.trim();
    if (this.waitingBytes >= this.maxBatchBytes) void this.flush();
    else this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, this.flushMs);
  }

  /** Writes what waits (after any write in flight); resolves when it is written or kept for later. */
  flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    this.chain = this.chain.then(() => this.writeWaiting());
    return this.chain;
  }

  /** Writes the rest (one last try) and stops taking text. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.waiting.length) {
      this.o.onError?.(new Error(`${this.waitingBytes} bytes of live log could not be stored (the log in S3 has them)`));
      this.waiting = [];
      this.waitingBytes = 0;
    }
  }

  private async writeWaiting(): Promise<void> {
    if (!this.waiting.length) return;
    const batch = this.waiting;
    const bytes = this.waitingBytes;
    this.waiting = [];
    this.waitingBytes = 0;
    if (this.dropped) {
      const first = batch[0]!;
      batch.unshift({ ...first, text: `\n[stackly] ${this.dropped} bytes of live log were dropped (the log in S3 after this step has them)\n` });
      this.dropped = 0;
    }
    try {
      await this.o.write(batch);
    } catch (e) {
      this.o.onError?.(e as Error);
      // Kept, in order, before whatever came meanwhile; tried again with the next batch.
      this.waiting = [...batch, ...this.waiting];
      this.waitingBytes += bytes;
      this.trim();
      if (!this.closed) this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, Math.max(this.flushMs, 1000));
    }
  }

  private trim(): void {
    while (this.waitingBytes > this.maxBufferedBytes && this.waiting.length > 1) {
      const gone = this.waiting.shift()!;
      const size = bytesOf(gone.text);
      this.waitingBytes -= size;
      this.dropped += size;
    }
  }
}

export interface LiveLogDeps {
  db: Db;
  /** The worker's namespace (its account's): chunks are stored under it and read back only by its account. */
  namespace: string;
  cipher: BlobCipher;
  flushMs?: number;
  onError?(e: Error): void;
}

/** Where the RunLog of one activity streams to (index.ts): the run, its workflow execution, the unit, the attempt. */
export interface LiveLogTarget {
  runId: string;
  execution: string;
  unit: string;
  attempt: number;
}

export interface LiveLog {
  /** The RunLog's sink: redacted text of a phase. */
  write(phase: string, text: string): void;
  close(): Promise<void>;
}

/** A live log of one activity, written to run_log_chunks with each chunk sealed by the account's key. */
export function openLiveLog(deps: LiveLogDeps, t: LiveLogTarget): LiveLog {
  const batcher = new ChunkBatcher({
    flushMs: deps.flushMs,
    onError: deps.onError,
    async write(chunks) {
      const sealed = await Promise.all(chunks.map(async (c) => {
        const plain = Buffer.from(c.text, 'utf8');
        return { execution: t.execution, unit: c.unit, phase: c.phase, attempt: c.attempt, at: c.at, bytes: plain.length, textEnc: await deps.cipher.encrypt(plain) };
      }));
      await appendRunLogChunks(deps.db, deps.namespace, t.runId, sealed);
    },
  });
  return {
    write: (phase, text) => batcher.add(t.unit, phase, t.attempt, text),
    close: () => batcher.close(),
  };
}
