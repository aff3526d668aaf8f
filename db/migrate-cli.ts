/** `npm run migrate`: applies pending migrations to DATABASE_URL (and DATABASE_SCHEMA when set). */
import { loadConfigOrExit } from '../common/config';
import { createDb, migrate } from './index';

async function main(): Promise<void> {
  const cfg = loadConfigOrExit('migrate');
  const db = createDb({ url: cfg.DATABASE_URL, schema: cfg.DATABASE_SCHEMA, max: 1 });
  try {
    const { applied } = await migrate(db, cfg.DATABASE_SCHEMA);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
  } finally {
    await db.destroy();
  }
}

main().catch((e) => {
  process.stderr.write(`stackly migrate: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
