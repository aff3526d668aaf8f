/**
 * Postgres for the dev stack: DATABASE_URL when set; else the local server on 127.0.0.1:5432 when one
 * answers (database `stackly`, created when missing); else an embedded PGlite served over the
 * Postgres wire protocol from this process, with its data under the state directory.
 */
import { Client } from 'pg';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

export interface PostgresService {
  url: string;
  kind: 'configured' | 'local' | 'embedded';
  stop(): Promise<void>;
}

async function canConnect(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const r = await c.query('select 1 from pg_database where datname = $1', [name]);
    if (r.rowCount === 0) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name ${name}`);
      await c.query(`create database ${name}`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e; // created concurrently
      });
    }
  } finally {
    await c.end();
  }
}

export async function providePostgres(opts: {
  databaseUrl?: string; stateDir: string; embeddedPort: number; log: (s: string) => void;
  /** Skip the local-server probe (STACKLY_POSTGRES=embedded): try the laptop path on any machine. */
  forceEmbedded?: boolean;
}): Promise<PostgresService> {
  if (opts.databaseUrl) return { url: opts.databaseUrl, kind: 'configured', stop: async () => undefined };
  for (const user of opts.forceEmbedded ? [] : ['postgres', process.env.USER ?? 'root']) {
    const admin = `postgres://${user}@127.0.0.1:5432/postgres`;
    if (await canConnect(admin)) {
      await ensureDatabase(admin, 'stackly');
      return { url: `postgres://${user}@127.0.0.1:5432/stackly`, kind: 'local', stop: async () => undefined };
    }
  }
  opts.log(opts.forceEmbedded
    ? 'STACKLY_POSTGRES=embedded: starting the embedded PGlite (single-writer, for one person\'s dev stack)'
    : 'no DATABASE_URL and no Postgres on 127.0.0.1:5432: starting the embedded PGlite (single-writer, for one person\'s dev stack)');
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dataDir = join(opts.stateDir, 'pglite');
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: opts.embeddedPort, maxConnections: 64 });
  await server.start();
  const url = `postgres://postgres@127.0.0.1:${opts.embeddedPort}/postgres?sslmode=disable`;
  return {
    url,
    kind: 'embedded',
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
