/**
 * Where a membership comes from: `admin` (made or changed by an admin, or by scripts/dev and tests)
 * or `idp` (made at sign-in by AUTH_ROLE_MAPPINGS / AUTH_DEFAULT_ROLE). Sign-in updates and removes
 * only `idp` memberships, so leaving an identity-provider group takes the role it gave away at the
 * next sign-in, and an admin's own decision is never overwritten by a mapping.
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('memberships')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('admin').check(sql`source in ('admin', 'idp')`))
    .execute();
  // A command line's sign-in is handed out only after the person at the browser typed the code the
  // command line shows (cli_code), in the browser that finished the sign-in (cli_browser_hash: the
  // SHA-256 of a cookie set by the callback): a login URL sent to someone else gets nobody's tokens.
  await db.schema.alterTable('login_requests').addColumn('cli_code', 'text').execute();
  await db.schema.alterTable('login_requests').addColumn('cli_browser_hash', 'text').execute();
  await db.schema.alterTable('login_requests').addColumn('cli_confirmed_at', 'timestamptz').execute();
  // Refresh tokens: the rotation chain is followed through replaced_by; find a user's tokens fast.
  await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').columns(['user_id']).execute();
  await db.schema.createIndex('refresh_tokens_replaced_by').on('refresh_tokens').columns(['replaced_by']).execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('refresh_tokens_replaced_by').ifExists().execute();
  await db.schema.dropIndex('refresh_tokens_user').ifExists().execute();
  await db.schema.alterTable('memberships').dropColumn('source').execute();
  for (const c of ['cli_confirmed_at', 'cli_browser_hash', 'cli_code']) await db.schema.alterTable('login_requests').dropColumn(c).execute();
}
