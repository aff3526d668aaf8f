// Workflow code for the smoke test: proxies one activity through the real server.
import { proxyActivities } from '@temporalio/workflow';
import type { createSmokeActivities } from './activities';

const { greet } = proxyActivities<ReturnType<typeof createSmokeActivities>>({ startToCloseTimeout: '30 seconds' });

export async function smokeWorkflow(name: string): Promise<string> {
  return await greet(name);
}
