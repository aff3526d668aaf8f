/** pull_requests: each pull request's head, its plan workflow and the id of the one comment Stackly keeps on it. */
import { sql } from 'kysely';
import type { Db, DbOrTx } from '../index';
import type { PullRequest } from '../tables/github';

/**
 * Records a pull request's new head and plan workflow (opened, synchronize, reopened). Returns the
 * workflow it had before (to cancel: its head is out of date), if another.
 */
export async function openPullRequest(
  db: Db, p: { repositoryId: string; number: number; headSha: string; baseSha: string; workflowId: string | null },
): Promise<{ previousWorkflowId: string | null }> {
  return db.transaction().execute(async (tx) => {
    const before = await tx.selectFrom('pull_requests').select('workflow_id')
      .where('repository_id', '=', p.repositoryId).where('number', '=', p.number).forUpdate().executeTakeFirst();
    await tx.insertInto('pull_requests')
      .values({ repository_id: p.repositoryId, number: p.number, state: 'open', head_sha: p.headSha, base_sha: p.baseSha, workflow_id: p.workflowId })
      .onConflict((oc) => oc.columns(['repository_id', 'number']).doUpdateSet({
        state: 'open', head_sha: p.headSha, base_sha: p.baseSha, workflow_id: p.workflowId, updated_at: sql`now()`,
      }))
      .execute();
    const prev = before?.workflow_id ?? null;
    return { previousWorkflowId: prev !== p.workflowId ? prev : null };
  });
}

/** Marks a pull request closed; returns the plan workflow it had (to cancel). */
export async function closePullRequest(db: DbOrTx, repositoryId: string, number: number): Promise<{ workflowId: string | null }> {
  const row = await db.updateTable('pull_requests').set({ state: 'closed', updated_at: sql`now()` })
    .where('repository_id', '=', repositoryId).where('number', '=', number)
    .returning('workflow_id').executeTakeFirst();
  return { workflowId: row?.workflow_id ?? null };
}

export async function getPullRequest(db: DbOrTx, repositoryId: string, number: number): Promise<PullRequest | undefined> {
  return db.selectFrom('pull_requests').selectAll().where('repository_id', '=', repositoryId).where('number', '=', number).executeTakeFirst();
}

/** Remembers the id of the comment Stackly keeps on a pull request. */
export async function setPullRequestComment(db: DbOrTx, repositoryId: string, number: number, commentId: string): Promise<void> {
  await db.insertInto('pull_requests')
    .values({ repository_id: repositoryId, number, state: 'open', head_sha: '', base_sha: '', comment_id: commentId })
    .onConflict((oc) => oc.columns(['repository_id', 'number']).doUpdateSet({ comment_id: commentId, updated_at: sql`now()` }))
    .execute();
}
