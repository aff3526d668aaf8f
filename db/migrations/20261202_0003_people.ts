/**
 * People and access (issue 19): users signed in through an identity provider, their membership and
 * role in each account, their groups (from the identity provider, or mapped by an admin), API keys
 * (stored only as hashes), refresh tokens (hashes), pending sign-ins (state, PKCE verifier), the
 * shared rate-limit counters, each account's Transit key, and who recorded an approval.
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;
const ROLES = sql`('viewer', 'operator', 'approver', 'admin')`;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    // github | oidc | local (a user made by an admin or by scripts/dev, who signs in with API keys)
    .addColumn('provider', 'text', (c) => c.notNull())
    // The identity provider's stable id of the person (OIDC `sub`, GitHub user id).
    .addColumn('subject', 'text', (c) => c.notNull())
    // What people see and policies compare: GitHub login, OIDC preferred_username or email.
    .addColumn('login', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('name', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('last_login_at', 'timestamptz')
    .addUniqueConstraint('users_provider_subject', ['provider', 'subject'])
    .execute();
  await db.schema.createIndex('users_login').on('users').columns(['login']).execute();

  await db.schema
    .createTable('memberships')
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ${ROLES}`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('memberships_pkey', ['account_id', 'user_id'])
    .execute();

  // Groups for approval policies' allowed_groups: from the identity provider at each sign-in
  // (source idp, replaced every time), or mapped by an admin of one account (source admin).
  await db.schema
    .createTable('user_groups')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('group_name', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('idp', 'admin')`))
    .addColumn('account_id', 'uuid', (c) => c.references('accounts.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await sql`create unique index user_groups_unique on user_groups (user_id, group_name, source, coalesce(account_id, '00000000-0000-0000-0000-000000000000'::uuid))`.execute(db);

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    // The user the key acts for (its creator); null for the first admin key of scripts/dev's bootstrap.
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ${ROLES}`))
    // The public part of the key (`stk_<prefix>_<secret>`), to find it and show it; the secret is only hashed.
    .addColumn('prefix', 'text', (c) => c.notNull().unique())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    // Rotation: a refresh token is used once; a second use of it revokes the whole family.
    .addColumn('replaced_by', 'uuid')
    .execute();

  // A sign-in in progress: the OAuth `state`, the PKCE verifier and OIDC nonce (server-side, so any
  // api instance can finish it), and for the CLI's sign-in the hash of its poll code.
  await db.schema
    .createTable('login_requests')
    .addColumn('state', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text')
    .addColumn('redirect_to', 'text')
    .addColumn('cli_poll_hash', 'text', (c) => c.unique())
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('completed_at', 'timestamptz')
    .addColumn('consumed_at', 'timestamptz')
    .execute();

  // Fixed-window request counters shared by every api instance.
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('window_start', 'timestamptz', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limits_pkey', ['key', 'window_start'])
    .execute();

  // Each account has its own Transit key (and its own Temporal namespace, already a column).
  await db.schema.alterTable('accounts').addColumn('transit_key', 'text').execute();
  await sql`update accounts set transit_key = 'temporal-' || temporal_namespace where transit_key is null`.execute(db);

  // Who recorded an approval (the signed-in user or the API key), and the account it belongs to.
  await db.schema.alterTable('approvals').addColumn('principal_id', 'text').execute();
  await db.schema.alterTable('approvals').addColumn('account_id', 'uuid', (c) => c.references('accounts.id')).execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('approvals').dropColumn('account_id').execute();
  await db.schema.alterTable('approvals').dropColumn('principal_id').execute();
  await db.schema.alterTable('accounts').dropColumn('transit_key').execute();
  for (const t of ['rate_limits', 'login_requests', 'refresh_tokens', 'api_keys', 'user_groups', 'memberships', 'users']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
