/**
 * State identity (issue 13): a state's objects live under `<account>/<state-id>/`, never under a
 * name read from stack.hcl. Existing rows get their new prefix here; the objects themselves are
 * moved by `npm run migrate` (db/state-objects.ts), which needs S3 and so is not a schema step:
 * until then `legacy_tf_state_key` holds the old prefix and runs of that state refuse to plan.
 *
 * Where several states shared one name-derived prefix (the bug this fixes), its objects are given to
 * the oldest of them; the others start empty and say so in `metadata.legacy_key_shared`.
 *
 * Also: `generation`, which orders the runs of a state (a newer registration supersedes older runs),
 * and `workers.incarnation`, which tells a restarted worker process from the one before it.
 *
 * Frozen: never edit a migration that has shipped; add a new one. Imports nothing from the application.
 */
import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('stack_states').addColumn('legacy_tf_state_key', 'text').execute();
  await db.schema.alterTable('stack_states').addColumn('generation', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await sql`
    with ranked as (
      select s.id, s.tf_state_key as old_key, a.name as account,
             first_value(s.id) over (partition by s.tf_state_key order by s.created_at, s.id) as owner
        from stack_states s join accounts a on a.id = s.account_id
    )
    update stack_states s
       set tf_state_key = r.account || '/' || s.id || '/',
           legacy_tf_state_key = case when r.owner = s.id then r.old_key end,
           metadata = case when r.owner = s.id then s.metadata
                           else s.metadata || jsonb_build_object('legacy_key_shared', jsonb_build_object('key', r.old_key, 'objects_given_to', r.owner)) end
      from ranked r
     where r.id = s.id and s.tf_state_key <> r.account || '/' || s.id || '/'`.execute(db);
  await sql`create unique index stack_states_tf_state_key on stack_states (tf_state_key)`.execute(db);
  await db.schema.alterTable('workers').addColumn('incarnation', 'text').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('workers').dropColumn('incarnation').execute();
  await sql`drop index if exists stack_states_tf_state_key`.execute(db);
  await sql`update stack_states set tf_state_key = legacy_tf_state_key where legacy_tf_state_key is not null`.execute(db);
  await db.schema.alterTable('stack_states').dropColumn('generation').execute();
  await db.schema.alterTable('stack_states').dropColumn('legacy_tf_state_key').execute();
}
