/**
 * Structured logging (pino). Secrets never reach a log: the redaction list covers the fields that
 * can carry them, and callers log identifiers, never payloads or variables.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  '*.token', '*.password', '*.secret', '*.secretAccessKey', '*.authorization', '*.Authorization',
  'headers.authorization', 'req.headers.authorization', 'req.headers["x-hub-signature-256"]',
  '*.variables', '*.payloads', '*.plaintext', '*.ciphertext',
];

export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
