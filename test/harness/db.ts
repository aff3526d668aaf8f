/** Each database suite gets its own schema in the real Postgres, migrated, and dropped after. */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createDb, migrate, type Db } from '../../db';
import { databaseUrl } from './services';

export interface TestDb {
  db: Db;
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export async function createTestDb(label: string): Promise<TestDb> {
  const schema = `t_${label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const url = databaseUrl();
  const db = createDb({ url, schema, max: 5 });
  await migrate(db, schema);
  return {
    db, url, schema,
    async drop() {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
      await db.destroy();
    },
  };
}
