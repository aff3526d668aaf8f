/**
 * TEST-ONLY workflows for the webhook tests and bench/webhooks.ts: the REAL pushWorkflow and state
 * queue, plus stand-ins registered under the names of the run and destroy workflows that do nothing
 * but return their input.
 *
 * Why stand-ins here, when the rule is "no mock for a component a user runs": these suites test the
 * webhook edge and PushWorkflow — which runs are started, for which state, commit and trigger, and
 * exactly once per delivery. The run workflow itself (plan/approve/apply with tofu, S3, execution
 * workers) is a different component with its own suites against the real thing
 * (test/workflows/stack-run.test.ts and the end-to-end suite, via test/harness/stackly.ts). Running
 * it here would make every push test wait on tofu and approvals while adding nothing these tests
 * check. Everything else in these suites is real: Temporal, Postgres, Vault, git, the api.
 * Never registered by a worker that users run: workers/main.ts registers workflows/index.ts.
 */
import type { StackRunInput } from '../../../workflows/definitions';

export { pushWorkflow } from '../../../workflows/push';
export { stateQueueWorkflow } from '../../../workflows/state-queue';

/** Test stand-in for WORKFLOWS.stackRun: returns its input so a test can read what it was started with. */
export async function stackRunWorkflow(input: StackRunInput): Promise<StackRunInput> {
  return input;
}

/** Test stand-in for WORKFLOWS.destroy: returns its input. */
export async function destroyWorkflow(input: StackRunInput): Promise<StackRunInput> {
  return input;
}
