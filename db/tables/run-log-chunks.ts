import type { Generated, Selectable } from 'kysely';

/** One piece of a run's live log (db/migrations/20261203_0005_logs_run_log_chunks.ts). */
export interface RunLogChunksTable {
  /** Temporal namespace of the worker that wrote it (its account's). */
  namespace: string;
  /** The run's workflow id. */
  run_id: string;
  /** 1, 2, 3… per run, in commit order. pg returns bigint as a string. */
  seq: string;
  /** The Temporal run id of the workflow execution (a re-run under the same workflow id is another). */
  execution: string;
  unit: string;
  phase: string;
  attempt: Generated<number>;
  /** When the chunk's first byte was written by tofu. */
  at: Date;
  /** Plaintext length in bytes. */
  bytes: number;
  /** The redacted text, sealed with the account's key. */
  text_enc: Buffer;
  created_at: Generated<Date>;
}
export type RunLogChunkRow = Selectable<RunLogChunksTable>;
