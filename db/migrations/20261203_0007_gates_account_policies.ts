/**
 * Gates a push cannot weaken (issue 15):
 * - account_policies: policies an admin sets through the API (`PUT /api/policies/:name`), applied to
 *   every stack of the account that its selector matches, in addition to the stack's own.
 * - webhook_deliveries.body_digest: SHA-256 of a delivery's signed body, unique per repository, so the
 *   same body redelivered under a new X-GitHub-Delivery id is refused (a replay).
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('account_policies')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // The HCL of one policy block, as the admin sent it, and the validated policy it gives.
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('policy', 'jsonb', (c) => c.notNull())
    // { environment?, repository?, path? }: every given field must match.
    .addColumn('selector', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('account_policies_account_name', ['account_id', 'name'])
    .execute();

  await db.schema.alterTable('webhook_deliveries').addColumn('body_digest', 'text').execute();
  await db.schema.createIndex('webhook_deliveries_repository_digest').unique()
    .on('webhook_deliveries').columns(['repository_id', 'body_digest'])
    .where(sql.ref('body_digest'), 'is not', null)
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_repository_digest').ifExists().execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('body_digest').execute();
  await db.schema.dropTable('account_policies').ifExists().execute();
}
