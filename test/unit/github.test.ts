/** GitHub feedback's pure parts: statuses of run events, the pull request's comment, payload parsing, retry plans. */
import assert from 'node:assert/strict';
import { runStatusContext, runStatusOf } from '../../activities/github-status';
import { forkRefusedComment, planStatusOf, renderPullRequestComment } from '../../activities/pull-request-comment';
import { PullRequestPayload, isFork } from '../../api/webhooks/pull-request';
import { githubRepositoryOfUrl } from '../../common/github';
import { clipDescription } from '../../db/repos/github-notifications';
import { retryPlan } from '../../workers/github-notifier';
import type { PullRequestReport } from '../../workflows/model/pull-request';

type Example = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const examples = (require('@octokit/webhooks-examples') as Array<{ name: string; examples: Example[] }>).find((e) => e.name === 'pull_request')!.examples;

describe('unit: GitHub feedback', () => {
  it('a run says queued, planning, waiting for approval with its plan, applied or failed with the reason', () => {
    const counts = { add: 1, change: 2, destroy: 0, replace: 0 };
    assert.deepEqual(runStatusOf('run_queued', { waiting_for: 'run-x' }, 'apply'), { state: 'pending', description: 'queued behind another run of this state' });
    assert.deepEqual(runStatusOf('plan_initiated', {}, 'apply'), { state: 'pending', description: 'planning' });
    assert.deepEqual(runStatusOf('approval_required', { scope: 'review' }, 'apply', counts), { state: 'pending', description: 'waiting for approval: +1 ~2 -0' });
    assert.match(runStatusOf('approval_required', { scope: 'unit:net', unit: 'net' }, 'apply')!.description, /unit net/);
    assert.deepEqual(runStatusOf('deploy_completed', { phase: 'succeeded' }, 'apply', counts), { state: 'success', description: 'applied: +1 ~2 -0' });
    assert.deepEqual(runStatusOf('deploy_completed', { phase: 'no_changes' }, 'apply'), { state: 'success', description: 'no changes' });
    assert.deepEqual(runStatusOf('deploy_failed', { phase: 'failed', error: 'units failed: net (boom)' }, 'apply'), { state: 'failure', description: 'deploy failed: units failed: net (boom)' });
    assert.deepEqual(runStatusOf('deploy_failed', { phase: 'rejected', error: 'rejected by bob: not now' }, 'apply'), { state: 'failure', description: 'rejected: by bob: not now' });
    assert.equal(runStatusOf('run_cancelled', {}, 'apply')!.state, 'error');
    assert.equal(runStatusOf('activity_started', {}, 'apply'), undefined);
    assert.equal(runStatusContext('network', 'prod'), 'stackly/network/prod');
    assert.equal(clipDescription('x'.repeat(500)).length, 140);
  });

  it("the pull request's comment shows counts, addresses and actions, policy decisions, and never a value", () => {
    const report: PullRequestReport = {
      accountId: 'acct', repositoryId: 'r', number: 7, headSha: 'a'.repeat(40), workflowId: 'pr-plan-d', phase: 'done', newStacks: ['stacks/new'], removedStacks: [],
      results: [
        {
          stackCodeId: 'c', stack: 'network', state: 'prod', stateId: 's', repoPath: 'stacks/network', status: 'planned', counts: { add: 1, change: 0, destroy: 0, replace: 1 },
          changes: [{ address: 'aws_db.main', actions: ['delete', 'create'] }, { address: 'random_password.p', actions: ['create'] }],
          decisions: [{ policy: 'protect', rule: 'no_replace', outcome: 'deny', message: 'replacing a database', address: 'aws_db.main' }],
        },
        { stackCodeId: 'c', stack: 'network', state: 'staging', stateId: 's2', repoPath: 'stacks/network', status: 'failed', error: 'tofu plan failed' },
      ],
    };
    const body = renderPullRequestComment(report);
    assert.match(body, /Stackly plan of `aaaaaaaaaaaa`/);
    assert.match(body, /\| network \(`stacks\/network`\) \| prod \| \+1 ~0 -0 ±1, refused by policy \|/);
    assert.match(body, /± aws_db\.main \(delete, create\)/);
    assert.match(body, /\+ random_password\.p \(create\)/);
    assert.match(body, /`protect\/no_replace` deny `aws_db\.main`: replacing a database/);
    assert.match(body, /failed: tofu plan failed/);
    assert.match(body, /New stacks .*`stacks\/new`/);
    assert.deepEqual(planStatusOf(report.results[0]!).state, 'failure');
    assert.deepEqual(planStatusOf({ ...report.results[0]!, decisions: [] }), { state: 'success', description: 'plan: +1 ~0 -0 ±1' });
    assert.deepEqual(planStatusOf({ ...report.results[0]!, changes: [], decisions: [] }), { state: 'success', description: 'plan: no changes' });
    assert.match(forkRefusedComment('b'.repeat(40), 'stranger/fork'), /from a fork \(`stranger\/fork`\)/);
  });

  it("GitHub's own pull_request examples parse; a fork is a head in another repository", () => {
    for (const e of examples.filter((x) => ['opened', 'synchronize', 'reopened', 'closed'].includes(x.action))) {
      const p = PullRequestPayload.parse(e);
      assert.equal(isFork(p), false);
      const fork = structuredClone(e);
      fork.pull_request.head.repo.id += 1;
      assert.equal(isFork(PullRequestPayload.parse(fork)), true);
      fork.pull_request.head.repo = null;
      assert.equal(isFork(PullRequestPayload.parse(fork)), true, 'a deleted fork counts as one');
    }
  });

  it('retries: 5xx, network errors and rate limits back off (honouring GitHub), other 4xx give up after a few attempts', () => {
    const o = { base: 1000, max: 60_000, maxClientErrorAttempts: 3, now: 0 };
    const err = (status?: number, headers: Record<string, string> = {}) => Object.assign(new Error('x'), status ? { status, response: { headers } } : {});
    assert.deepEqual(retryPlan(err(502), 0, o), { retryAt: new Date(1000), giveUp: false });
    assert.deepEqual(retryPlan(err(500), 3, o), { retryAt: new Date(8000), giveUp: false });
    assert.deepEqual(retryPlan(err(500), 30, o), { retryAt: new Date(60_000), giveUp: false }, 'capped, never given up');
    assert.deepEqual(retryPlan(err(), 0, o).giveUp, false);
    assert.deepEqual(retryPlan(err(429, { 'retry-after': '30' }), 0, o), { retryAt: new Date(30_000), giveUp: false });
    assert.deepEqual(retryPlan(err(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '90' }), 0, o), { retryAt: new Date(90_000), giveUp: false });
    assert.equal(retryPlan(err(422), 0, o).giveUp, false);
    assert.equal(retryPlan(err(422), 2, o).giveUp, true);
    assert.equal(retryPlan(err(403), 2, o).giveUp, true, 'a 403 that is not a rate limit: no permission');
  });

  it('owner/name of github.com URLs', () => {
    assert.equal(githubRepositoryOfUrl('https://github.com/acme/infra.git'), 'acme/infra');
    assert.equal(githubRepositoryOfUrl('git@github.com:acme/infra.git'), 'acme/infra');
    assert.equal(githubRepositoryOfUrl('ssh://git@github.com/acme/infra'), 'acme/infra');
    assert.equal(githubRepositoryOfUrl('https://gitlab.com/acme/infra.git'), undefined);
    assert.equal(githubRepositoryOfUrl('file:///srv/infra.git'), undefined);
  });
});
