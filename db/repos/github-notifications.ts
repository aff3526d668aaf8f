/**
 * github_notifications: the durable outbox of commit statuses and pull-request comments (migration
 * 0005). Writers upsert the latest state of a key (a commit's context, a pull request's comment) in
 * their own transaction; the control worker's notifier (workers/github-notifier.ts) leases due rows,
 * posts them, and marks the version it delivered. A newer state written while one is in flight gets a
 * new version, so it is posted after it (the latest state always wins, older ones are coalesced away).
 */
import { sql } from 'kysely';
import type { DbOrTx } from '../index';
import type { GithubNotification, GithubStatusState } from '../tables/github';

export interface StatusNotification {
  repositoryId: string;
  sha: string;
  context: string;
  state: GithubStatusState;
  description: string;
  runId?: string | null;
}

/** GitHub keeps at most 140 characters of a status description. */
export const MAX_STATUS_DESCRIPTION = 140;

export function clipDescription(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= MAX_STATUS_DESCRIPTION ? one : `${one.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`;
}

/** The latest status of a commit's context, to be posted (replaces one not yet posted). */
export async function enqueueStatus(db: DbOrTx, n: StatusNotification): Promise<void> {
  const description = clipDescription(n.description);
  await db.insertInto('github_notifications')
    .values({
      repository_id: n.repositoryId, kind: 'status', key: `status:${n.sha}:${n.context}`, sha: n.sha, context: n.context,
      state: n.state, description, run_id: n.runId ?? null,
    })
    .onConflict((oc) => oc.columns(['repository_id', 'key']).doUpdateSet({
      state: n.state, description, run_id: n.runId ?? null,
      version: sql`github_notifications.version + 1`, pending: true, attempts: 0, next_attempt_at: sql`now()`, last_error: null, updated_at: sql`now()`,
    }))
    .execute();
}

/** The latest body of a pull request's one comment (created, or updated in place). */
export async function enqueueComment(db: DbOrTx, n: { repositoryId: string; prNumber: number; body: string }): Promise<void> {
  await db.insertInto('github_notifications')
    .values({ repository_id: n.repositoryId, kind: 'comment', key: `comment:${n.prNumber}`, pr_number: n.prNumber, body: n.body })
    .onConflict((oc) => oc.columns(['repository_id', 'key']).doUpdateSet({
      body: n.body, version: sql`github_notifications.version + 1`, pending: true, attempts: 0, next_attempt_at: sql`now()`, last_error: null, updated_at: sql`now()`,
    }))
    .execute();
}

/**
 * Leases up to `limit` due rows for `leaseMs` (rows another notifier leased are skipped), oldest
 * first. What the caller posts is the row as returned: its version is what it may mark delivered.
 */
export async function leaseDueNotifications(db: DbOrTx, limit: number, leaseMs: number): Promise<GithubNotification[]> {
  return db.updateTable('github_notifications')
    .set({ leased_until: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
    .where('id', 'in', (q) => q.selectFrom('github_notifications').select('id')
      .where('pending', '=', true)
      .where('next_attempt_at', '<=', sql<Date>`now()`)
      .where((w) => w.or([w('leased_until', 'is', null), w('leased_until', '<', sql<Date>`now()`)]))
      .orderBy('next_attempt_at').orderBy('id')
      .limit(limit)
      .forUpdate().skipLocked())
    .returningAll()
    .execute();
}

/** Posted at `version`: done unless a newer state came meanwhile (then that one is due at once). */
export async function markNotificationDelivered(db: DbOrTx, id: string, version: string): Promise<void> {
  await db.updateTable('github_notifications')
    .set({
      delivered_version: version, leased_until: null, last_error: null, updated_at: sql`now()`,
      pending: sql<boolean>`version <> ${version}`,
    })
    .where('id', '=', id)
    .execute();
}

/**
 * Posting failed: try again at `retryAt` (unless a newer state came, which is due at once), or give
 * up (`giveUp`: kept with its error, no longer pending).
 */
export async function markNotificationFailed(db: DbOrTx, id: string, version: string, v: { error: string; retryAt: Date; giveUp: boolean }): Promise<void> {
  await db.updateTable('github_notifications')
    .set({
      leased_until: null, last_error: v.error.slice(0, 1000), updated_at: sql`now()`,
      attempts: sql`case when version = ${version} then attempts + 1 else 0 end`,
      next_attempt_at: sql`case when version = ${version} then ${v.retryAt} else now() end`,
      pending: v.giveUp ? sql<boolean>`version <> ${version}` : true,
    })
    .where('id', '=', id)
    .execute();
}

/** Remembers the check run that mirrors a status (GitHub App connections). */
export async function setNotificationCheckRun(db: DbOrTx, id: string, checkRunId: string): Promise<void> {
  await db.updateTable('github_notifications').set({ check_run_id: checkRunId }).where('id', '=', id).execute();
}

/** The notifications of a repository (tests, diagnostics), oldest first. */
export async function listNotifications(db: DbOrTx, repositoryId: string): Promise<GithubNotification[]> {
  return db.selectFrom('github_notifications').selectAll().where('repository_id', '=', repositoryId).orderBy('id').execute();
}

/** Where a run's status goes: its repository (when connected to GitHub), commit, stack and state. */
export interface RunNotificationTarget {
  repositoryId: string;
  sha: string;
  stack: string;
  state: string;
  operationType: string;
  workflowId: string | null;
}

/** The GitHub target of an operation's run, or undefined when its repository is not connected to GitHub. */
export async function runNotificationTarget(db: DbOrTx, operationId: string): Promise<RunNotificationTarget | undefined> {
  const row = await db.selectFrom('operations as o')
    .innerJoin('stack_states as s', 's.id', 'o.stack_state_id')
    .innerJoin('stack_codes as c', 'c.id', 's.stack_code_id')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .select(['r.id as repositoryId', 'o.to_commit as sha', 'c.name as stack', 's.name as state', 'o.type as operationType', 'o.workflow_id as workflowId'])
    .where('o.id', '=', operationId)
    .where('r.github_auth_enc', 'is not', null)
    .executeTakeFirst();
  if (!row || !row.sha) return undefined;
  return { ...row, sha: row.sha };
}

/** The counts of an operation's latest review plan (its `plan_completed` event), if any. */
export async function latestPlanCounts(db: DbOrTx, operationId: string): Promise<Record<string, number> | undefined> {
  const row = await db.selectFrom('events').select('payload')
    .where('operation_id', '=', operationId).where('type', '=', 'plan_completed')
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  const p = row?.payload as { counts?: Record<string, number> } | undefined;
  return p?.counts;
}
