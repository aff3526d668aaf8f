/**
 * Accounts made through the api (POST /api/accounts) are provisioned in steps: the row first
 * (`provisioning`), then the account's Transit key and Temporal namespace, then `ready`. A failure
 * midway leaves a `provisioning` row that a retry of the same request completes. Accounts that
 * existed before are `ready`. Workers serve the namespaces of `ready` accounts.
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('accounts')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('ready').check(sql`status in ('provisioning', 'ready')`))
    .execute();
  await db.schema.createIndex('accounts_temporal_namespace').on('accounts').column('temporal_namespace').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('accounts_temporal_namespace').ifExists().execute();
  await db.schema.alterTable('accounts').dropColumn('status').execute();
}
