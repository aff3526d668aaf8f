/**
 * GitHub feedback (issue 17; numbered after the logs branch's 0005, which may have run first): a repository may be connected to GitHub (a GitHub App installation or a
 * token, stored as Vault Transit ciphertext; the API base URL; the `owner/name` it is on GitHub;
 * whether pull requests from forks are planned). `github_notifications` is the durable outbox of
 * commit statuses and pull-request comments, written in the same transaction as the run event that
 * causes it and drained by the control worker (one row per repository and key: the latest state
 * wins). `pull_requests` remembers each pull request's head, its plan workflow and its comment id.
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('repositories')
    .addColumn('github_auth_enc', 'text')
    .addColumn('github_repository', 'text')
    .addColumn('github_api_url', 'text')
    .addColumn('allow_fork_prs', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();

  await db.schema.createTable('github_notifications')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('repository_id', 'uuid', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('status', 'comment')`))
    /** `status:<sha>:<context>` or `comment:<pr number>`: one row each, the latest state wins. */
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('sha', 'text')
    .addColumn('context', 'text')
    .addColumn('pr_number', 'integer')
    .addColumn('state', 'text')
    .addColumn('description', 'text')
    .addColumn('run_id', 'text')
    .addColumn('body', 'text')
    /** Connected as a GitHub App: the check run that mirrors this status (created once, then updated). */
    .addColumn('check_run_id', 'bigint')
    .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(1))
    .addColumn('delivered_version', 'bigint')
    /** Not yet delivered at its current version (or given up: false with last_error). */
    .addColumn('pending', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('leased_until', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('github_notifications_repository_key', ['repository_id', 'key'])
    .execute();
  await db.schema.createIndex('github_notifications_due').on('github_notifications').column('next_attempt_at')
    .where(sql.ref('pending'), '=', true).execute();

  await db.schema.createTable('pull_requests')
    .addColumn('repository_id', 'uuid', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('open', 'closed')`))
    .addColumn('head_sha', 'text', (c) => c.notNull())
    .addColumn('base_sha', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text')
    .addColumn('comment_id', 'bigint')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('pull_requests_pkey', ['repository_id', 'number'])
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('pull_requests').ifExists().execute();
  await db.schema.dropTable('github_notifications').ifExists().execute();
  await db.schema.alterTable('repositories')
    .dropColumn('allow_fork_prs').dropColumn('github_api_url').dropColumn('github_repository').dropColumn('github_auth_enc')
    .execute();
}
