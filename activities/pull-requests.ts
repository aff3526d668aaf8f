/**
 * Control activities of a pull request's review plans: what they found goes into the GitHub outbox
 * (db/repos/github-notifications.ts) in one transaction: the pull request's one comment and a
 * commit status per stack state on its head. The notifier of the control worker posts them.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db';
import { getRepositoryById } from '../db/repos/repositories';
import { enqueueComment, enqueueStatus } from '../db/repos/github-notifications';
import { getPullRequest } from '../db/repos/pull-requests';
import type { PullRequestActivities } from '../workflows/model/activities';
import type { PullRequestReport } from '../workflows/model/pull-request';
import { planStatusContext } from './github-status';
import { planStatusOf, renderPullRequestComment } from './pull-request-comment';

export function createPullRequestActivities({ db }: { db: Db }): PullRequestActivities {
  return {
    async recordPullRequestPlans(report: PullRequestReport): Promise<{ current: boolean }> {
      const repo = await getRepositoryById(db, report.repositoryId);
      if (!repo || repo.account_id !== report.accountId) {
        throw ApplicationFailure.nonRetryable(`repository ${report.repositoryId} is not a repository of account ${report.accountId}`, 'RepositoryNotInAccount');
      }
      return db.transaction().execute(async (tx) => {
        for (const r of report.results) {
          const s = planStatusOf(r);
          await enqueueStatus(tx, { repositoryId: report.repositoryId, sha: report.headSha, context: planStatusContext(r.stack, r.state), state: s.state, description: s.description });
        }
        // A plan of a head that is no longer the pull request's says nothing in its comment.
        const pr = await getPullRequest(tx, report.repositoryId, report.number);
        const current = pr !== undefined && pr.head_sha === report.headSha;
        if (current) await enqueueComment(tx, { repositoryId: report.repositoryId, prNumber: report.number, body: renderPullRequestComment(report) });
        return { current };
      });
    },
  };
}
