/**
 * Hooks of a run (stack.hcl `hooks`): run by a control activity in priority order; each result is
 * an event. `post_apply` runs once the apply has begun, however the run ends, and only once.
 */
import { hooksBudgetMs, type HookEvent, type HookRunContext, type RunHooks } from '../../policies';
import { hookEventRecord, hookStopReason } from '../gates';
import { hookActivities } from './proxies';
import type { RunSession } from './session';

export type PostApplyOutcome = 'succeeded' | 'failed' | 'no_changes' | 'cancelled';

export interface HookRunner {
  /** Runs the hooks of `e`; the reason the run must stop, when a failing hook says so. */
  run(e: HookEvent, outcome?: HookRunContext['outcome']): Promise<string | undefined>;
  /** The post_apply hooks, once. */
  postApply(outcome: PostApplyOutcome): Promise<unknown>;
}

export function hookRunner(s: RunSession, hooks: RunHooks): HookRunner {
  const { input, ctx, progress } = s;
  const run = async (e: HookEvent, outcome?: HookRunContext['outcome']): Promise<string | undefined> => {
    const defs = hooks[e] ?? [];
    if (defs.length === 0) return undefined;
    const context: HookRunContext = {
      event: e, runId: s.workflowId, kind: input.kind, stack: ctx.stack, state: ctx.state, environment: ctx.environment,
      commit: input.commit, plan: progress.review?.counts ?? null, triggeredBy: input.trigger.by, ...(outcome ? { outcome } : {}),
    };
    const results = await hookActivities(hooksBudgetMs(defs)).runHooks({ event: e, hooks: defs, context });
    for (const r of results) {
      const def = defs.find((d) => d.name === r.hook);
      await s.event(r.ok ? 'hook_completed' : 'hook_failed', hookEventRecord(r, def?.continueOnFailure ?? false));
    }
    return hookStopReason(e, results);
  };
  let postApplyRan = false;
  return {
    run,
    async postApply(outcome) {
      if (postApplyRan) return;
      postApplyRan = true;
      await run('post_apply', outcome);
    },
  };
}
