/**
 * The registry schema. Frozen: never edit a migration that has shipped; add a new one.
 * Migrations import nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('accounts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('temporal_namespace', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('repositories')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('tracked_branch', 'text', (c) => c.notNull().defaultTo('main'))
    // Secrets are stored only as Vault Transit ciphertext, never in plaintext.
    .addColumn('webhook_secret_enc', 'text')
    .addColumn('credentials_enc', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('repositories_account_url_key', ['account_id', 'url'])
    .execute();

  await db.schema
    .createTable('stack_codes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    .addColumn('repository_id', 'uuid', (c) => c.references('repositories.id'))
    .addColumn('repo_url', 'text', (c) => c.notNull())
    .addColumn('repo_path', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('current_commit', 'varchar(40)', (c) => c.notNull())
    .addColumn('config', 'jsonb', (c) => c.notNull())
    // active | invalid | deregistered
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  // One live stack code per directory; de-registered rows stay as history.
  await sql`create unique index stack_codes_live_path on stack_codes (repo_url, repo_path) where status <> 'deregistered'`.execute(db);

  await db.schema
    .createTable('stack_states')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    .addColumn('stack_code_id', 'uuid', (c) => c.references('stack_codes.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('commit_hash', 'varchar(40)', (c) => c.notNull())
    .addColumn('tf_state_key', 'text', (c) => c.notNull())
    .addColumn('variables', 'jsonb', (c) => c.notNull())
    .addColumn('metadata', 'jsonb', (c) => c.notNull())
    // active | loose | destroying | destroyed
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await sql`create unique index stack_states_code_name on stack_states (stack_code_id, name) where stack_code_id is not null`.execute(db);

  await db.schema
    .createTable('operations')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('stack_state_id', 'uuid', (c) => c.references('stack_states.id'))
    // plan | apply | destroy | drift
    .addColumn('type', 'text', (c) => c.notNull())
    // pending | running | waiting | succeeded | failed | cancelled
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('triggered_by', 'text')
    .addColumn('workflow_id', 'text')
    .addColumn('from_commit', 'varchar(40)')
    .addColumn('to_commit', 'varchar(40)')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .addColumn('error_details', 'jsonb')
    .addColumn('metadata', 'jsonb')
    .execute();
  await db.schema.createIndex('operations_state').on('operations').columns(['stack_state_id', 'started_at']).execute();
  await sql`create unique index operations_workflow on operations (workflow_id) where workflow_id is not null`.execute(db);

  await db.schema
    .createTable('git_cache')
    .addColumn('repo_url', 'text', (c) => c.notNull())
    .addColumn('commit_hash', 'varchar(40)', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('content', 'bytea', (c) => c.notNull())
    .addColumn('cached_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('git_cache_pkey', ['repo_url', 'commit_hash', 'path'])
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('account_id', 'uuid', (c) => c.references('accounts.id'))
    .addColumn('stack_code_id', 'uuid', (c) => c.references('stack_codes.id'))
    .addColumn('stack_state_id', 'uuid', (c) => c.references('stack_states.id'))
    .addColumn('operation_id', 'uuid', (c) => c.references('operations.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    // Idempotency for events emitted from activities that may be retried.
    .addColumn('dedupe_key', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('events_state').on('events').columns(['stack_state_id', 'id']).execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('delivery_id', 'text', (c) => c.primaryKey())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('repository_id', 'uuid', (c) => c.references('repositories.id'))
    // received | started | ignored | failed
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('workflow_id', 'text')
    .addColumn('payload', 'jsonb')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('task_queue', 'text', (c) => c.notNull())
    .addColumn('capabilities', 'jsonb', (c) => c.notNull())
    .addColumn('host', 'text')
    .addColumn('pid', 'integer')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('last_heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('stopped_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('workers_queue').on('workers').columns(['task_queue', 'last_heartbeat_at']).execute();

  await db.schema
    .createTable('approvals')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('operation_id', 'uuid', (c) => c.references('operations.id'))
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    // what is approved: "review" for the whole plan, or "unit:<name>" for a difference
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('approver', 'text', (c) => c.notNull())
    .addColumn('groups', 'jsonb', (c) => c.notNull())
    // approve | reject
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('counted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('approvals_workflow').on('approvals').columns(['workflow_id', 'scope']).execute();
}

export async function down(db: Db): Promise<void> {
  for (const t of ['approvals', 'workers', 'webhook_deliveries', 'events', 'git_cache', 'operations', 'stack_states', 'stack_codes', 'repositories', 'accounts']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
