/**
 * Run logs as the api serves them and the CLI reads them (GET /api/runs/:id/logs): the chunk shape,
 * the server-sent-events framing of `?follow=1` and its parser, and `[unit phase] line` prefixing.
 * Pure: no I/O.
 */

/** One chunk of a run's log as the api gives it. `seq` increases along a run's log (the event stream's id). */
export interface RunLogChunk {
  seq: number;
  unit: string;
  phase: string;
  attempt: number;
  /** ISO time of the chunk's first byte. */
  time: string;
  text: string;
}

/** The `end` event's data: the run has ended. */
export interface RunLogEnd {
  status: string;
}

// ---- server-sent events ----

/** One event: `id:` (when given), `event:`, `data:` (one line per line of the JSON, which has none). */
export function sseEvent(event: string, data: unknown, id?: number | string): string {
  const lines = JSON.stringify(data).split('\n').map((l) => `data: ${l}`).join('\n');
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\n${lines}\n\n`;
}

/** A comment line (heartbeat): ignored by clients, keeps proxies from closing an idle connection. */
export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;

/** The `retry:` field: how long a client waits before reconnecting. */
export const sseRetry = (ms: number): string => `retry: ${Math.max(0, Math.floor(ms))}\n\n`;

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Parses an event stream fed in arbitrary pieces (WHATWG "server-sent events": lines end in CRLF, LF
 * or CR; `:` starts a comment; a blank line dispatches; `data` lines join with LF).
 */
export class SseParser {
  private buf = '';
  private id: string | undefined;
  private event = '';
  private data: string[] = [];
  private hasData = false;

  /** The id of the last event that had one (what Last-Event-ID sends on reconnection). */
  lastEventId: string | undefined;

  push(text: string): SseMessage[] {
    this.buf += text;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buf);
      // A lone CR at the end may be the first half of a CRLF: wait for the next piece.
      if (!m || (m[0] === '\r' && m.index === this.buf.length - 1)) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.hasData) {
          out.push({ ...(this.id !== undefined ? { id: this.id } : {}), event: this.event || 'message', data: this.data.join('\n') });
        }
        if (this.id !== undefined) this.lastEventId = this.id;
        this.id = undefined;
        this.event = '';
        this.data = [];
        this.hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') { this.data.push(value); this.hasData = true; }
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

// ---- `[unit phase] line` ----

/**
 * Prefixes each line with `[unit phase] `. Chunks of parallel units interleave and a chunk may end
 * inside a line: the rest of a line waits, per unit and phase, until its end arrives (or `end()`).
 */
export class LinePrefixer {
  private readonly partial = new Map<string, string>();

  push(c: Pick<RunLogChunk, 'unit' | 'phase' | 'text'>): string {
    const key = `${c.unit} ${c.phase}`;
    const text = (this.partial.get(key) ?? '') + c.text;
    const cut = text.lastIndexOf('\n');
    if (cut === -1) {
      this.partial.set(key, text);
      return '';
    }
    const rest = text.slice(cut + 1);
    if (rest) this.partial.set(key, rest);
    else this.partial.delete(key);
    return text.slice(0, cut).split('\n').map((l) => `[${key}] ${l}\n`).join('');
  }

  /** Whatever lines had no end yet. */
  end(): string {
    const out = [...this.partial].map(([key, l]) => `[${key}] ${l}\n`).join('');
    this.partial.clear();
    return out;
  }
}

/** Every line of these chunks, prefixed. */
export function prefixedLines(chunks: ReadonlyArray<Pick<RunLogChunk, 'unit' | 'phase' | 'text'>>): string {
  const p = new LinePrefixer();
  return chunks.map((c) => p.push(c)).join('') + p.end();
}

/** The last `n` lines of a text. */
export function lastLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n') + '\n';
}
