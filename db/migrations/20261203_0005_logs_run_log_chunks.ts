/**
 * Live run logs (issue 17): tofu's redacted output, in order, while a run works. Written by the
 * execution workers in small batches, read by GET /api/runs/:id/logs (and its event stream).
 *
 * - `seq` numbers a run's chunks 1, 2, 3… in commit order (db/repos/run-log-chunks.ts assigns it
 *   under a per-run advisory lock), so a reader that has seen chunk N has seen every chunk before it.
 * - `namespace` is the Temporal namespace of the worker that wrote it (one account's): the api reads
 *   only its caller's namespace's chunks.
 * - `text_enc` is the text sealed with the account's Transit key (the envelope of common/codec).
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.createTable('run_log_chunks')
    .addColumn('namespace', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('execution', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('text_enc', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('run_log_chunks_pkey', ['namespace', 'run_id', 'seq'])
    .execute();
  await db.schema.createIndex('run_log_chunks_created').on('run_log_chunks').columns(['created_at']).execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('run_log_chunks').ifExists().execute();
}
