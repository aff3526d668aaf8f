/**
 * pullRequestPlanWorkflow: a pull request's review plans (issue 17). One per pull_request delivery
 * (opened, synchronize, reopened) of a tracked repository connected to GitHub, id
 * `pr-plan-<delivery id>`.
 *
 * A speculative run: for every registered stack the pull request changes (its directory, policies/
 * or a local module it reads differ between the merge base and the head), each active state gets the
 * same review plan a run makes (`planReview`: the original root against the unit states merged into a
 * local copy, `-lock=false`), at the pull request's head (fetched from `refs/pull/<n>/head`), then the
 * stack's security policies over that plan. Never an apply, never a state lock, never the state's run
 * queue, never an operation, event or registry change: a deploy of the state is never held up by it.
 *
 * What it finds goes to GitHub through the outbox (activities/pull-requests.ts): one comment per pull
 * request (updated in place) and a status per stack state on the head commit. A newer head or the
 * pull request's closing cancels it (the api); a cancelled plan says so on its own statuses.
 */
import { ActivityFailure, CancellationScope, TimeoutFailure, isCancellation, log, sleep, workflowInfo } from '@temporalio/workflow';
import type { Requirement } from './capabilities';
import type { PullRequestDecision, PullRequestPlanInput, PullRequestPlanResult, PullRequestReport, PullRequestStacks } from './model/pull-request';
import type { RunRef, StackSource } from './model/terraform';
import { decisionRecords, prePlanDecisions } from './gates';
import { control, exec, type Exec } from './stack-run/proxies';
import { isRealChange } from './stack-run/review';
import { describe } from './stack-run/session';

/** How long a plan waits for a live worker matching the stack before it fails. */
const ROUTE_WAIT_MS = 10 * 60_000;

export interface PullRequestPlanSummary {
  headSha: string;
  results: PullRequestPlanResult[];
}

/** A task queue of a live worker matching `requires`, waited for a while. */
async function route(requires: Requirement): Promise<string> {
  const until = Date.now() + ROUTE_WAIT_MS;
  for (;;) {
    const r = await control.findTaskQueue(requires);
    if (r.ok) return r.taskQueue;
    if (Date.now() > until) throw new Error(r.reason);
    await sleep('5 seconds');
  }
}

async function onWorker<T>(requires: Requirement, call: (a: Exec) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const q = await route(requires);
    try {
      return await call(exec(q, true));
    } catch (e) {
      if (e instanceof ActivityFailure && e.cause instanceof TimeoutFailure && e.cause.timeoutType === 'SCHEDULE_TO_START' && attempt < 10) continue;
      throw e;
    }
  }
}

export async function pullRequestPlanWorkflow(input: PullRequestPlanInput): Promise<PullRequestPlanSummary> {
  const workflowId = workflowInfo().workflowId;
  const found: PullRequestStacks = await control.findPullRequestStacks({
    accountId: input.accountId, repositoryId: input.repositoryId, repoUrl: input.repoUrl, branch: input.branch, headSha: input.headSha, baseSha: input.baseSha, headRef: input.headRef,
  });
  const results: PullRequestPlanResult[] = found.targets.flatMap((t) => t.states.map((st) => ({
    stackCodeId: t.stackCodeId, stack: t.stack, state: st.name, stateId: st.id, repoPath: t.repoPath, status: 'pending' as const,
  })));
  const report = (phase: PullRequestReport['phase']): PullRequestReport => ({
    accountId: input.accountId, repositoryId: input.repositoryId, number: input.number, headSha: input.headSha, workflowId, phase,
    results, newStacks: found.newStacks, removedStacks: found.removedStacks,
  });
  try {
    await control.recordPullRequestPlans(report('planning'));
    for (let i = 0; i < results.length; i++) results[i] = await planOne(input, workflowId, results[i]!);
    await control.recordPullRequestPlans(report('done'));
  } catch (e) {
    if (isCancellation(e)) {
      for (let i = 0; i < results.length; i++) if (results[i]!.status === 'pending') results[i] = { ...results[i]!, status: 'cancelled' };
      await CancellationScope.nonCancellable(() => control.recordPullRequestPlans(report('cancelled')));
    }
    throw e;
  }
  return { headSha: input.headSha, results };
}

/** One stack state's review plan of the head, and its policies; a failure is a result, not the workflow's failure. */
async function planOne(input: PullRequestPlanInput, workflowId: string, r: PullRequestPlanResult): Promise<PullRequestPlanResult> {
  try {
    const ctx = await control.loadRunContext({
      stateId: r.stateId, stackCodeId: r.stackCodeId, commit: input.headSha, kind: 'deploy',
      trigger: { type: 'pull_request', by: `github:${input.deliveryId}`, deliveryId: input.deliveryId, ...(input.sender ? { author: input.sender } : {}) },
    });
    const requires = ctx.config.requires;
    const source: StackSource = { repoUrl: ctx.repoUrl, commit: input.headSha, stackPath: ctx.stackPath, repositoryId: ctx.repositoryId ?? null, ref: input.headRef };
    // Its own keys for the plan JSON and log (runs/<id>/…): never a state object.
    const run: RunRef = { account: ctx.account, stack: ctx.stack, state: ctx.state, stateId: ctx.stateId, statePrefix: ctx.stateKeyPrefix, runId: `${workflowId}-${ctx.stateId.slice(0, 8)}` };
    const analysis = await onWorker(requires, (a) => a.analyzeStack({ source }));
    const policies = await onWorker(requires, (a) => a.loadRunPolicies({ source }));
    const review = await onWorker(requires, (a) => a.planReview({ source, run, units: analysis.units, variables: ctx.variables }));
    const gates = { policies: policies.policies, environment: ctx.environment, state: ctx.state, ...(ctx.authors ? { author: ctx.authors } : {}) };
    const decisions: PullRequestDecision[] = decisionRecords(prePlanDecisions(gates, Date.now()))
      .filter((d) => d.outcome !== 'allow')
      .map(({ until: _until, ...d }) => d);
    if (policies.policies.some((p) => p.security)) {
      const sec = await onWorker(requires, (a) => a.evaluatePlanPolicies({
        policies: policies.policies, planJsonKey: review.planJsonKey, now: Date.now(), environment: ctx.environment, state: ctx.state,
      }));
      decisions.push(...decisionRecords(sec.decisions).map(({ until: _until, ...d }) => d));
    }
    return {
      ...r, status: 'planned', counts: review.counts,
      changes: review.changes.filter(isRealChange).map((c) => ({ address: c.address, actions: c.actions })), decisions,
    };
  } catch (e) {
    if (isCancellation(e)) throw e;
    const error = describe(e);
    log.warn('pull request plan failed', { stack: r.stack, state: r.state, error });
    return { ...r, status: 'failed', error };
  }
}
