/**
 * Execution-side activities of the policy engine (issue 7): load and validate the repository's
 * policies/*.hcl at the run's commit, resolve the stack's `policies = [...]`, and evaluate the
 * post_plan security rules over the review plan's JSON (an encrypted S3 object). Only plain
 * `Policy` data and `Decision`s (with resource addresses) go back to the workflow, never the plan.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import { evaluate, summarize, formatPolicyError, type Decision, type Policy, type RunHooks, type StackHookNames, type Summary } from '../policies';
import { loadPolicies, resolveStackHooks, resolveStackPolicies } from '../policies/load';
import { s3Client, type S3Settings } from '../common/s3';
import { parseStackConfig, stackReferenceLines } from './hcl/stack-config';
import { HclError } from './hcl/types';
import { whileAlive } from './terraform/tofu';
import { getObject, type BlobCipher } from './terraform/store';
import { createStackCode, type StackCode } from './terraform/stack-code';
import type { RunPolicies } from '../workflows/model/run';
import type { StackSource } from '../workflows/model/terraform';
import type { PolicyActivities } from '../workflows/model/activities';

export interface PolicyDeps {
  workDir: string;
  gitDir: string;
  /** The stack's code at a commit, one per worker (shared with the other execution activities). */
  code?: StackCode;
  s3: S3Settings;
  cipher: BlobCipher;
  logger: Logger;
}

export function createPolicyActivities(deps: PolicyDeps): PolicyActivities {
  const s3 = s3Client(deps.s3);
  const code = deps.code ?? createStackCode(deps);
  return {
    async loadRunPolicies(input: { source: StackSource }): Promise<RunPolicies> {
      const { repoRoot, stackRoot } = await whileAlive('checkout', () => code.sharedCheckout(input.source));
      const stackFileAbs = join(stackRoot, 'stack.hcl');
      const stackFile = relative(repoRoot, stackFileAbs) || 'stack.hcl';
      let names: string[] = [];
      let environment: string | undefined;
      let hookNames: StackHookNames = { prePlan: [], postPlan: [], preApply: [], postApply: [] };
      let hookLines: Partial<Record<keyof RunHooks, number>> = {};
      let line: number | undefined;
      if (existsSync(stackFileAbs)) {
        const text = readFileSync(stackFileAbs, 'utf8');
        try {
          const cfg = await parseStackConfig(text, stackFile);
          names = cfg.policies;
          environment = cfg.environment;
          hookNames = cfg.hooks;
          ({ policies: line, hooks: hookLines } = stackReferenceLines(text, cfg.name));
        } catch (e) {
          if (e instanceof HclError) throw ApplicationFailure.nonRetryable(e.message, 'PolicyConfigError');
          throw e;
        }
      }
      const loaded = await loadPolicies(repoRoot);
      // Invalid policy files fail the run even when this stack names none of them: one commit, one verdict.
      const resolved = resolveStackPolicies(loaded, names, stackFile, line);
      const hooks = resolveStackHooks(loaded, hookNames, stackFile, hookLines);
      const errors = [...loaded.errors, ...resolved.errors, ...hooks.errors];
      const policies = resolved.policies;
      if (errors.length > 0) {
        throw ApplicationFailure.nonRetryable(`invalid policies at ${input.source.commit.slice(0, 12)}:\n${errors.map(formatPolicyError).join('\n')}`, 'PolicyConfigError');
      }
      return { policies, environment, hooks: hooks.hooks };
    },

    async evaluatePlanPolicies(input: { policies: Policy[]; planJsonKey: string; now: number; environment?: string; state?: string }): Promise<{ decisions: Decision[]; summary: Summary }> {
      const sealed = await getObject(s3, deps.s3.bucket, input.planJsonKey);
      if (!sealed) throw ApplicationFailure.nonRetryable(`plan JSON ${input.planJsonKey} not found`, 'PlanMissing');
      let plan: unknown;
      try {
        plan = JSON.parse((await deps.cipher.decrypt(sealed)).toString('utf8'));
      } catch (e) {
        // Fail closed: a plan we cannot read is not a plan we may approve.
        throw ApplicationFailure.nonRetryable(`plan JSON ${input.planJsonKey} unreadable: ${(e as Error).name}`, 'PlanUnreadable');
      }
      const decisions = evaluate({
        policies: input.policies, stage: 'post_plan',
        context: { now: input.now, environment: input.environment, state: input.state, plan },
      });
      return { decisions, summary: summarize(decisions) };
    },
  };
}
