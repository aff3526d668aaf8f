/**
 * Issue 15 (parts 3, 6, 7): secret variables (write-only, Vault Transit ciphertext of the account's
 * key), worker pools bound to repositories or accounts by admins, and what webhook hooks may reach
 * (address allow-list per account) and name (STACKLY_HOOK_* grants per repository).
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

const uuid = sql`gen_random_uuid()`;
const now = sql`now()`;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('secret_variables')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    // 'state' (stack_states.id) or 'stack_code' (stack_codes.id); a state's own secret wins.
    .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('state', 'stack_code')`))
    .addColumn('scope_id', 'uuid', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value_enc', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('secret_variables_scope_name', ['scope', 'scope_id', 'name'])
    .execute();

  await db.schema
    .createTable('worker_pool_bindings')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    // null: the binding of the whole account (for its repositories without one of their own).
    .addColumn('repository_id', 'uuid', (c) => c.references('repositories.id'))
    .addColumn('pool', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await sql`create unique index worker_pool_bindings_key on worker_pool_bindings (account_id, coalesce(repository_id, '00000000-0000-0000-0000-000000000000'::uuid), pool)`.execute(db);

  await db.schema
    .createTable('hook_address_allowlist')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    // An address or CIDR range (normalised), e.g. 10.1.2.0/24, 127.0.0.1/32, fd00::/8.
    .addColumn('cidr', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('hook_address_allowlist_key', ['account_id', 'cidr'])
    .execute();

  await db.schema
    .createTable('hook_env_grants')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id'))
    .addColumn('repository_id', 'uuid', (c) => c.notNull().references('repositories.id'))
    .addColumn('env_name', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('hook_env_grants_key', ['repository_id', 'env_name'])
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('hook_env_grants').ifExists().execute();
  await db.schema.dropTable('hook_address_allowlist').ifExists().execute();
  await db.schema.dropTable('worker_pool_bindings').ifExists().execute();
  await db.schema.dropTable('secret_variables').ifExists().execute();
}
