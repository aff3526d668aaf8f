// A small stand-in for StackRunWorkflow (variables in, outputs out) for the codec tests.
import { proxyActivities } from '@temporalio/workflow';
import type { createCodecTestActivities } from './activities';

const { applyStack } = proxyActivities<ReturnType<typeof createCodecTestActivities>>({ startToCloseTimeout: '30 seconds' });

export async function codecTestWorkflow(input: { stack: string; variables: Record<string, string> }): Promise<{ outputs: Record<string, string> }> {
  return await applyStack({ variables: input.variables });
}
