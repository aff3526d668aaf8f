/**
 * The activity proxies of a run: control activities (Postgres, routing, hooks) on the workflow's own
 * queue, and tofu activities on an execution queue chosen per call.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities, ExecutionActivities } from '../model/activities';

/**
 * Light, quick control activities: Postgres and routing. No task queue given: they run on the
 * workflow's own queue, i.e. on the control worker that runs this workflow.
 */
export const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 },
});

export type Exec = ReturnType<typeof exec>;

/**
 * tofu activities on an execution queue. `scheduleToStartTimeout` bounds the wait for a worker on the
 * chosen queue (it is not retried: on expiry the run goes back to routing); the heartbeat timeout is
 * how fast a dead worker is noticed; plan and analysis are retried, apply is not (a crashed apply is
 * re-planned and checked against the review instead, see units.ts). `waitForCancellation`: a
 * cancelled activity counts as ended only once the worker says tofu stopped (it has released its
 * state lock), not as soon as the cancellation is asked for.
 */
export function exec(taskQueue: string, retry: boolean, waitForCancellation = false) {
  return proxyActivities<ExecutionActivities>({
    taskQueue,
    scheduleToStartTimeout: '2 minutes',
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '30 seconds',
    retry: retry
      ? { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ['TerraformConfigError', 'HclError'] }
      : { maximumAttempts: 1 },
    ...(waitForCancellation ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  });
}

/** The hook runner (control worker): each event's budget is the sum of its hooks' timeouts. */
export function hookActivities(budgetMs: number) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: budgetMs + 30_000,
    retry: { initialInterval: '1 second', maximumAttempts: 3 },
  });
}
