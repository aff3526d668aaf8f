/**
 * PushWorkflow: one per GitHub push delivery (workflow id `push-<delivery id>`). The api only stores
 * the delivery and starts this workflow; everything else happens here, durably, so a restart of the
 * api after its 202 loses nothing.
 *
 * Steps: fetch the commit into the bare cache → find the stack directories the push touches →
 * validate their stack.hcl → fill git_cache → register / update / mark invalid / de-register (one
 * transaction per stack) → start a run per state of each new or changed stack, a destroy or loose
 * marking for removed ones → after a force push, mark states whose deployed commit is gone.
 *
 * Out-of-order deliveries: a stack is "touched" when its directory, policies/ or a local module it
 * reads differs between the newest commit the registry has for it and this push's commit, not between
 * the push's `before` and `after`; a push older than what the registry has for a stack (and that
 * newer commit still on the branch) leaves that stack alone (`superseded`); a push whose commit is no
 * longer on the branch (overtaken by a force push) changes nothing; and every registry change is a
 * compare-and-set, re-planned on conflict. So concurrent pushes converge on the branch head.
 *
 * Moves: a stack directory removed and another added in the same push, declaring the same stack name,
 * is one stack code that moved: it keeps its id and its states (same ids, same state keys).
 *
 * Runs are not started here but asked of each state's queue (workflows/state-queue.ts), which runs
 * them one at a time; a newer push supersedes runs that have not begun to apply.
 */
import { ParentClosePolicy, WorkflowIdReusePolicy, log, patched, proxyActivities, startChild, uuid4, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { GitActivities, RegistryActivities, RunRequestActivities } from './model/activities';
import type { PushAnalysis, RepoRef } from './model/git';
import type { Conflict, RegisteredStack, RegisterResult } from './model/registry';
import {
  WORKFLOWS, newRunId, stackRunWorkflowId,
  type PushWorkflowInput, type PushWorkflowResult, type RunKind, type RunRequest, type StackRunInput,
} from './definitions';

// Git work is I/O bound and may fetch a large repository: a generous start-to-close, retried.
const git = proxyActivities<GitActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});
// Registry calls are short transactions; retries are safe because each is idempotent.
const registry = proxyActivities<RegistryActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});
// Queueing runs is a signal-with-start per state: short, idempotent (the queue takes a run id once).
const runs = proxyActivities<RunRequestActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});

const ZERO = '0000000000000000000000000000000000000000';
/** Re-plans after compare-and-set conflicts before giving up (then the workflow task fails and retries). */
const MAX_ROUNDS = 10;

/** What pushWorkflow returns: PushWorkflowResult plus the stacks it left to a newer push. */
export interface PushResult extends PushWorkflowResult {
  /** Stack directories the registry already holds at a newer commit than this push's. */
  superseded: string[];
  /** Stack directories that moved in this push (the stack code and its states followed). */
  moved: Array<{ from: string; to: string }>;
}

/**
 * Pure: the moves of a push. A live stack whose directory is gone and a new directory (no live stack
 * code) declaring the same stack name are one stack that moved, when the name pairs exactly one of
 * each (two removed or two added with one name is ambiguous: no move, as before).
 */
export function findMoves(
  plan: Pick<PushPlan, 'toRegister' | 'toDeregister'>, nameAt: (dir: string) => string | undefined,
): Array<{ from: RegisteredStack; to: string }> {
  const added = new Map<string, string[]>();
  for (const t of plan.toRegister) {
    const name = t.expectedLatest === null ? nameAt(t.dir) : undefined;
    if (name !== undefined) added.set(name, [...(added.get(name) ?? []), t.dir]);
  }
  const removed = new Map<string, RegisteredStack[]>();
  for (const r of plan.toDeregister) removed.set(r.name, [...(removed.get(r.name) ?? []), r]);
  const moves: Array<{ from: RegisteredStack; to: string }> = [];
  for (const [name, dirs] of added) {
    const from = removed.get(name);
    if (dirs.length === 1 && from?.length === 1) moves.push({ from: from[0]!, to: dirs[0]! });
  }
  return moves.sort((a, b) => a.to.localeCompare(b.to));
}

export interface PushPlan {
  /** Stack dirs at `after` to (re)validate and register: touched since the registry's commit, or not registered. */
  toRegister: Array<{ dir: string; expectedLatest: string | null }>;
  /** Live stacks whose directory (or stack.hcl) no longer exists at `after`. */
  toDeregister: RegisteredStack[];
  /** Known stacks at a newer commit than `after`: left alone. */
  superseded: string[];
}

const isConflict = (r: object): r is Conflict => (r as Partial<Conflict>).conflict === true;

/**
 * Pure: which stacks a push touches, from the analysis of `after` against what the registry holds.
 * A live stack is re-registered when something under it or policies/ changed since its latest commit
 * (or that is unknown); a directory without a live stack code is registered, unless a newer push
 * already de-registered it; a live stack whose directory is gone at `after` is de-registered. A stack
 * whose latest commit is newer than `after` is never touched.
 */
export function planPush(analysis: PushAnalysis, registered: RegisteredStack[]): PushPlan {
  const atAfter = new Set(analysis.stackDirs);
  const live = new Map(registered.filter((r) => r.status !== 'deregistered').map((r) => [r.repoPath, r]));
  const gone = new Map(registered.filter((r) => r.status === 'deregistered' && !live.has(r.repoPath)).map((r) => [r.repoPath, r]));
  const relation = (path: string) => analysis.known[path]?.relation ?? 'unknown';
  const plan: PushPlan = { toRegister: [], toDeregister: [], superseded: [] };
  for (const dir of analysis.stackDirs) {
    const r = live.get(dir);
    if (r) {
      if (relation(dir) === 'ahead') plan.superseded.push(dir);
      else if (relation(dir) !== 'same' && (analysis.known[dir]?.touched ?? true)) plan.toRegister.push({ dir, expectedLatest: r.latestCommit });
    } else if (gone.has(dir) && relation(dir) === 'ahead') {
      plan.superseded.push(dir);
    } else {
      plan.toRegister.push({ dir, expectedLatest: null });
    }
  }
  for (const r of live.values()) {
    if (atAfter.has(r.repoPath)) continue;
    if (relation(r.repoPath) === 'ahead') plan.superseded.push(r.repoPath);
    else plan.toDeregister.push(r);
  }
  return plan;
}

async function startRun(input: StackRunInput, workflowType: string, kind: RunKind): Promise<string> {
  const workflowId = stackRunWorkflowId(input.stateId, input.commit, kind);
  try {
    await startChild(workflowType, {
      workflowId,
      // Runs go to the control queue this push ran on (tests run their own control worker).
      taskQueue: workflowInfo().taskQueue,
      args: [input],
      // The run outlives this short workflow.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // One run per state, kind and commit, ever: a redelivered push never starts a second one.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    log.info('run already started', { workflowId });
  }
  return workflowId;
}

const pushUnique = (list: string[], ...items: string[]) => {
  for (const i of items) if (!list.includes(i)) list.push(i);
};

export async function pushWorkflow(input: PushWorkflowInput): Promise<PushResult> {
  const commit = input.after;
  const result: PushResult = {
    commit, registered: [], updated: [], invalid: [], deregistered: [], runsStarted: [], destroysStarted: [], unreachableStates: [], superseded: [], moved: [],
  };
  // Runs go through each state's queue, moves keep states, a commit off the branch changes nothing
  // (pushes handled before this version started runs themselves and knew no moves).
  const queued = patched('state-queue-and-moves');
  const controlQueue = workflowInfo().taskQueue;
  /** Asks the state queues for these runs; each run's id is made here once, so a retry names the same run. */
  const request = async (wanted: Array<{ stateId: string; stackCodeId: string; commit: string; kind: RunKind; generation: number }>): Promise<string[]> => {
    if (wanted.length === 0) return [];
    const requests: RunRequest[] = wanted.map((w) => {
      const runId = newRunId(w.kind, w.stateId, w.commit, uuid4().replace(/-/g, '').slice(0, 12));
      return {
        runId, workflowType: w.kind === 'destroy' ? WORKFLOWS.destroy : WORKFLOWS.stackRun,
        input: { stateId: w.stateId, stackCodeId: w.stackCodeId, commit: w.commit, kind: w.kind, trigger, generation: w.generation },
      };
    });
    await runs.requestRuns({ taskQueue: controlQueue, requests });
    return requests.map((r) => r.runId);
  };
  const startRuns = async (reg: RegisterResult): Promise<string[]> => queued
    ? (reg.madeByThisDelivery === false ? [] : request(reg.states.map((s) => ({ stateId: s.id, stackCodeId: reg.stackCodeId, commit, kind: 'deploy' as const, generation: s.generation }))))
    : Promise.all(reg.states.map((s) => startRun({ stateId: s.id, stackCodeId: reg.stackCodeId, commit, kind: 'deploy', trigger }, WORKFLOWS.stackRun, 'deploy')));
  const repo: RepoRef = { repositoryId: input.repositoryId, repoUrl: input.repoUrl, branch: input.branch };
  const before = input.before && input.before !== ZERO ? input.before : null;
  // The delivery rides along so a commit off the tracked branch is refused and recorded by the git
  // activities themselves (same commands; pushes started before ignore it).
  const delivery = { deliveryId: input.deliveryId, accountId: input.accountId };
  await git.fetchRepository({ ...repo, commits: [commit], delivery });

  const ref = (repoPath: string, expectedLatest: string | null) => ({
    accountId: input.accountId, repositoryId: input.repositoryId, repoUrl: input.repoUrl, repoPath, commit, deliveryId: input.deliveryId, expectedLatest,
  });
  const trigger = { type: 'push' as const, by: `github:${input.deliveryId}`, deliveryId: input.deliveryId, ...(input.author ? { author: input.author } : {}), ...(input.pusher ? { pusher: input.pusher } : {}) };
  const configs: Awaited<ReturnType<GitActivities['loadStackConfigs']>> = {};
  let cached = new Set<string>();
  let analysis: PushAnalysis | undefined;

  /** History rewritten (or unknown): flags the states whose deployed commit is no longer on the branch. */
  const markUnreachable = async (a: PushAnalysis): Promise<void> => {
    if (!(input.forced || a.beforeIsAncestor === false || (before !== null && a.beforeIsAncestor === null))) return;
    const states = await registry.listActiveStates({ repoUrl: input.repoUrl });
    const unreachable = states.length
      ? await git.findUnreachableCommits({ ...repo, commits: states.map((s) => s.commit) })
      : [];
    result.unreachableStates = await registry.markUnreachableStates({
      accountId: input.accountId, repoUrl: input.repoUrl, branch: input.branch, commits: unreachable, deliveryId: input.deliveryId, after: commit,
    });
  };

  let flagFirst = false;
  for (let round = 1; ; round++) {
    const registeredStacks = await registry.listRegisteredStacks({ repoUrl: input.repoUrl });
    analysis = await git.analysePush({
      ...repo, before, after: commit, known: registeredStacks.map((r) => ({ repoPath: r.repoPath, latestCommit: r.latestCommit })), delivery,
    });
    if (queued && analysis.afterOnBranch === false) {
      // A force push dropped this commit from the branch since it was pushed: the push of the new
      // head reconciles the registry; this one must not register commits that are not on the branch.
      log.info('pushed commit is no longer on the branch; nothing to do', { deliveryId: input.deliveryId, commit });
      pushUnique(result.superseded, ...analysis.stackDirs);
      return result;
    }
    // Flagged before any run is asked for, so the runs of this push see the flag (and wait for approval);
    // pushes started before this version flagged after their runs, as they did.
    if (round === 1) flagFirst = queued && patched('unreachable-before-runs');
    if (flagFirst && round === 1) await markUnreachable(analysis);
    const plan = planPush(analysis, registeredStacks);
    pushUnique(result.superseded, ...plan.superseded);

    const load = plan.toRegister.map((t) => t.dir).filter((d) => !configs[d]);
    if (load.length) Object.assign(configs, await git.loadStackConfigs({ ...repo, commit, dirs: load }));
    const valid = plan.toRegister.map((t) => t.dir).filter((d) => configs[d]?.ok && !cached.has(d));
    if (valid.length) {
      await git.fillGitCache({ ...repo, commit, dirs: valid });
      cached = new Set([...cached, ...valid]);
    }

    let conflicts = 0;
    const moves = queued ? findMoves(plan, (d) => (configs[d]?.ok ? configs[d].config.name : undefined)) : [];
    for (const m of moves) {
      const c = configs[m.to]!;
      if (!c.ok) continue;
      const reg = await registry.moveStack({
        ...ref(m.to, null), config: c.config, stackCodeId: m.from.id, fromPath: m.from.repoPath, expectedFromLatest: m.from.latestCommit,
      });
      if (isConflict(reg)) { conflicts++; continue; }
      if (!result.moved.some((x) => x.to === m.to)) result.moved.push({ from: m.from.repoPath, to: m.to });
      pushUnique(result.runsStarted, ...(await startRuns(reg)));
    }
    const movedTo = new Set(moves.map((m) => m.to));
    const movedFrom = new Set(moves.map((m) => m.from.id));
    for (const { dir, expectedLatest } of plan.toRegister.filter((t) => !movedTo.has(t.dir))) {
      const c = configs[dir]!;
      if (!c.ok) {
        const r = await registry.markStackInvalid({ ...ref(dir, expectedLatest), error: c.error });
        if (isConflict(r)) { conflicts++; continue; }
        pushUnique(result.invalid, dir);
        continue;
      }
      const reg = await registry.registerStack({ ...ref(dir, expectedLatest), config: c.config });
      if (isConflict(reg)) { conflicts++; continue; }
      if (reg.kind === 'new') pushUnique(result.registered, dir);
      else if (!result.registered.includes(dir)) pushUnique(result.updated, dir);
      pushUnique(result.runsStarted, ...(await startRuns(reg)));
    }

    for (const gone of plan.toDeregister.filter((g) => !movedFrom.has(g.id))) {
      const d = await registry.deregisterStack({ ...ref(gone.repoPath, gone.latestCommit), stackCodeId: gone.id });
      if (isConflict(d)) { conflicts++; continue; }
      pushUnique(result.deregistered, gone.repoPath);
      const ids = queued
        ? await request(d.destroy.map((s) => ({ stateId: s.id, stackCodeId: gone.id, commit: s.commit, kind: 'destroy' as const, generation: s.generation })))
        : await Promise.all(d.destroy.map((s) => startRun(
          { stateId: s.id, stackCodeId: gone.id, commit: s.commit, kind: 'destroy', trigger }, WORKFLOWS.destroy, 'destroy',
        )));
      pushUnique(result.destroysStarted, ...ids);
    }
    if (conflicts === 0) break;
    if (round >= MAX_ROUNDS) throw new Error(`registry kept changing under this push (${conflicts} conflicts after ${round} rounds)`);
    log.info('re-planning after conflicts with another push', { deliveryId: input.deliveryId, conflicts, round });
  }

  if (!flagFirst) await markUnreachable(analysis);
  log.info('push handled', { deliveryId: input.deliveryId, ...result });
  return result;
}
