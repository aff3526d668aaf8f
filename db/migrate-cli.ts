/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (and DATABASE_SCHEMA when set), then
 * moves Terraform state objects that a migration gave a new key (db/state-objects.ts), when S3_* is set.
 */
import { loadConfigOrExit } from '../common/config';
import { s3Client, s3SettingsFromConfig } from '../common/s3';
import { createDb, migrate } from './index';
import { moveLegacyStateObjects, pendingStateMoves } from './state-objects';

async function main(): Promise<void> {
  const cfg = loadConfigOrExit('migrate');
  const db = createDb({ url: cfg.DATABASE_URL, schema: cfg.DATABASE_SCHEMA, max: 1 });
  try {
    const { applied } = await migrate(db, cfg.DATABASE_SCHEMA);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
    const pending = await pendingStateMoves(db);
    if (pending === 0) return;
    const s3 = s3SettingsFromConfig(cfg);
    if (!s3) {
      process.stderr.write(`stackly migrate: ${pending} state(s) still have their Terraform state under a name-derived key; `
        + 'set S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY and run it again (their runs refuse to plan until then)\n');
      process.exitCode = 3;
      return;
    }
    const client = s3Client(s3);
    try {
      const r = await moveLegacyStateObjects(db, client, s3.bucket);
      for (const m of r.moved) process.stdout.write(`state ${m.stateId}: ${m.objects} object(s) moved from ${m.from} to ${m.to}\n`);
      for (const s of r.skipped) process.stderr.write(`state ${s.stateId}: not moved from ${s.from}: ${s.reason}\n`);
      if (r.skipped.length) process.exitCode = 3;
    } finally {
      client.destroy();
    }
  } finally {
    await db.destroy();
  }
}

main().catch((e) => {
  process.stderr.write(`stackly migrate: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
