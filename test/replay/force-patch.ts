/**
 * Bundled in place of `@temporalio/workflow` by the replay test (histories.test.ts), never by a worker
 * that runs workflows: everything is the SDK's, except `patched(id)`, which
 * - tells the test through a sink (called during replay) that the history reached `patched(id)` and
 *   which branch it took (false: no marker for `id` in the history, the old branch);
 * - answers true, whatever the history holds, when the replayed workflow id starts with
 *   `force-patch:<id>:`. Replaying a history that took the old branch that way fails exactly when
 *   the new branch issues other commands than the old one did.
 */
import { patched as sdkPatched, proxySinks, workflowInfo, type Sinks } from '@temporalio/workflow/lib/index';

export * from '@temporalio/workflow/lib/index';

export const FORCE_PATCH_PREFIX = 'force-patch:';

export interface ReplayProbeSinks extends Sinks {
  replayProbe: { patched(patchId: string, taken: boolean): void };
}

export function patched(patchId: string): boolean {
  const taken = workflowInfo().workflowId.startsWith(`${FORCE_PATCH_PREFIX}${patchId}:`) || sdkPatched(patchId);
  proxySinks<ReplayProbeSinks>().replayProbe.patched(patchId, taken);
  return taken;
}
