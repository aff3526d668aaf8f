/** The workflows the control worker runs (one per file). */
export { stackRunWorkflow, stackRunWorkflow as destroyWorkflow } from './stack-run';
export { pushWorkflow } from './push';
export { stateQueueWorkflow } from './state-queue';
export { driftCheckWorkflow, driftScheduleWorkflow } from './drift';
export { pullRequestPlanWorkflow } from './pull-request';
