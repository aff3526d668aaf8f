/**
 * The data layer: a Kysely handle over a pg pool, migrations, and repositories (one file per table
 * under repos/, functions that take the db or a transaction first).
 */
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import { Pool, type PoolConfig } from 'pg';
import type { Database } from './schema';
import * as m0001 from './migrations/20261122_0001_registry';
import * as m0002 from './migrations/20261201_0002_state_identity';
import * as m0003 from './migrations/20261202_0003_people';
import * as m0004signin from './migrations/20261202_0004_signin_membership_source';
import * as m0004 from './migrations/20261202_0004_tenancy_account_status';
import * as m0005logs from './migrations/20261203_0005_logs_run_log_chunks';
import * as m0006github from './migrations/20261203_0006_github_connections';
import * as m0007gates from './migrations/20261203_0007_gates_account_policies';
import * as m0008secrets from './migrations/20261203_0008_secrets_variables_pools_hooks';

export type { Database } from './schema';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
export type DbOrTx = Db | Tx;

/** Every migration, in order. Listed statically so builds and bundles need no directory scan. */
const MIGRATIONS: Record<string, Migration> = {
  '20261122_0001_registry': m0001,
  '20261201_0002_state_identity': m0002,
  '20261202_0003_people': m0003,
  '20261202_0004_signin_membership_source': m0004signin,
  '20261202_0004_tenancy_account_status': m0004,
  '20261203_0005_logs_run_log_chunks': m0005logs,
  '20261203_0006_github_connections': m0006github,
  '20261203_0007_gates_account_policies': m0007gates,
  '20261203_0008_secrets_variables_pools_hooks': m0008secrets,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export interface DbOptions {
  url: string;
  /** Postgres schema to use (tests give each suite its own). Created by migrate(). */
  schema?: string;
  max?: number;
}

export function createDb(opts: DbOptions): Db {
  const cfg: PoolConfig = { connectionString: opts.url, max: opts.max ?? 10 };
  if (opts.schema) cfg.options = `-c search_path=${quoteIdent(opts.schema)}`;
  const pool = new Pool(cfg);
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

function quoteIdent(s: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(s)) throw new Error(`invalid schema name "${s}"`);
  return s;
}

export interface MigrateResult {
  applied: string[];
}

/**
 * Applies pending migrations (creating the schema first when one is given). Safe to run concurrently.
 * `to`: stop after that migration (tests of a migration's data step start from the one before it).
 */
export async function migrate(db: Db, schema?: string, to?: string): Promise<MigrateResult> {
  if (schema) await db.schema.createSchema(quoteIdent(schema)).ifNotExists().execute();
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = to ? await migrator.migrateTo(to) : await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const what = failed ? `migration ${failed.migrationName}` : 'migrations';
    throw new Error(`applying ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
