/**
 * The Temporal SDK's own log lines (worker runtime: "Activity failed", "Workflow task failed", …)
 * carry the failure as metadata. Those errors are the *decoded* failures — a tofu error can quote a
 * variable's value — so they must never reach a log in full. This logger keeps the SDK's lines and
 * their identifiers (workflow id, activity type, attempt, task queue) but replaces every error-like
 * field by its name and failure type only; the message and stack stay in Temporal's encrypted
 * history, readable through the codec server.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

const ERROR_KEYS = new Set(['error', 'err', 'failure', 'cause']);

/** An error (or error-shaped object) reduced to what identifies its kind. */
function errorShape(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return { kind: typeof v };
  const e = v as { name?: unknown; type?: unknown; nonRetryable?: unknown; constructor?: { name?: string } };
  const out: Record<string, unknown> = { name: typeof e.name === 'string' ? e.name : e.constructor?.name ?? 'Object' };
  if (typeof e.type === 'string') out.type = e.type;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  return out;
}

/** Metadata without failure messages, stacks or details. Pure; exported for tests. */
export function sanitizeLogMeta(meta: LogMetadata | undefined): Record<string, unknown> | undefined {
  if (!meta) return meta;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (ERROR_KEYS.has(k) || v instanceof Error) out[k] = v === undefined || v === null ? v : errorShape(v);
    else out[k] = v;
  }
  return out;
}

const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };
const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error',
};

/** A Temporal `Logger` that writes sanitized entries to a pino logger (or any sink), from `level` up. */
export class SafeTemporalLogger implements TemporalLogger {
  constructor(
    private readonly level: LogLevel,
    private readonly sink: (level: LogLevel, message: string, meta: Record<string, unknown> | undefined) => void,
  ) {}

  static toPino(logger: Logger, level: LogLevel = 'INFO'): SafeTemporalLogger {
    return new SafeTemporalLogger(level, (l, message, meta) => logger[PINO_LEVEL[l]]({ sdk: meta }, message));
  }

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (SEVERITY[level] < SEVERITY[this.level]) return;
    this.sink(level, message, sanitizeLogMeta(meta));
  }
  trace(message: string, meta?: LogMetadata): void { this.log('TRACE', message, meta); }
  debug(message: string, meta?: LogMetadata): void { this.log('DEBUG', message, meta); }
  info(message: string, meta?: LogMetadata): void { this.log('INFO', message, meta); }
  warn(message: string, meta?: LogMetadata): void { this.log('WARN', message, meta); }
  error(message: string, meta?: LogMetadata): void { this.log('ERROR', message, meta); }
}
