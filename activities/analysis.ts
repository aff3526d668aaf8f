/**
 * Execution-side activities around the unit graph: analyse a stack at a commit (units + wiring),
 * read units' outputs from their state objects, and evaluate the root outputs from unit outputs.
 */
import { hostEnvironment } from '../common/config';
import { GetObjectCommand, NoSuchKey } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { s3Client, type S3Settings } from '../common/s3';
import { stateKey } from '../common/state-keys';
import { INPUTS_FILE, synthesize, typedInputsFile, type Synthesis } from './hcl/synthesize';
import { HclError } from './hcl/types';
import { parseOutputs } from './terraform/plan-json';
import { resolveRef, sealSensitiveOutputs, type RefStore } from './terraform/output-refs';
import { getObject, putObject, type BlobCipher } from './terraform/store';
import type { RunSecrets } from './terraform/run-secrets';
import { createRedactor } from './terraform/redact';
import { createStackCode, type StackCode } from './terraform/stack-code';
import { currentActivityCtx, runTofu, tofuEnv, whileAlive } from './terraform/tofu';
import { processIsolation, type Isolation } from './terraform/sandbox';
import type { RunRef, StackAnalysisResult, StackSource, TerraformBase, UnitOutput } from '../workflows/model/terraform';
import type { UnitGraph } from '../workflows/graph-types';
import type { AnalysisActivities } from '../workflows/model/activities';

export interface AnalysisDeps {
  workDir: string;
  gitDir: string;
  /** The stack's code and its analysis, one per worker (shared with the tofu activities). */
  code?: StackCode;
  tfBinary: string;
  s3: S3Settings;
  logger: Logger;
  /** Sensitive outputs are returned as references to objects sealed with it (./terraform/output-refs.ts). */
  cipher?: BlobCipher;
  /** A pooled worker's check that the run's stack is bound to its pool (activities/pools.ts). */
  poolGuard?: (stateId: string, what: string) => Promise<void>;
  /** Secret variables of the run's state, for root outputs that read them (./terraform/run-secrets.ts). */
  runSecrets?: RunSecrets;
  /** How jobs are isolated (default: this process's, a uid per job). */
  isolation?: Isolation;
}

/** The cached analysis of the stack at `source` (one shared checkout per commit), synthesized. */
async function analyse(deps: AnalysisDeps, code: StackCode, source: StackSource): Promise<{ synthesis: Synthesis; units: UnitGraph; repoRoot: string }> {
  const at = await whileAlive('checkout', () => code.sharedCheckout(source));
  const { repoRoot, stackRoot } = at;
  try {
    const a = await whileAlive('analyse', () => code.analysis(source, at));
    const synthesis = synthesize({
      structure: a.structure, callGraph: a.callGraph, units: a.units, repoRoot, stackRoot,
      unitsDir: join(deps.workDir, 'units'), backend: { type: 'none' },
    });
    return { synthesis, units: a.units, repoRoot };
  } catch (e) {
    if (e instanceof HclError) throw ApplicationFailure.nonRetryable(`analysing ${source.stackPath || '(root)'} at ${source.commit.slice(0, 12)}: ${e.message}`, 'HclError');
    throw e;
  }
}

export function createAnalysisActivities(deps: AnalysisDeps): AnalysisActivities {
  const s3 = s3Client(deps.s3);
  const code = deps.code ?? createStackCode(deps);
  const refs: RefStore | undefined = deps.cipher
    ? { cipher: deps.cipher, put: (k, b) => putObject(s3, deps.s3.bucket, k, b), get: (k) => getObject(s3, deps.s3.bucket, k) }
    : undefined;
  const seal = (runId: string, unit: string, o: Record<string, UnitOutput>) => (refs ? sealSensitiveOutputs(refs, runId, unit, o) : Promise.resolve(o));
  return {
    async analyzeStack(input: { source: StackSource }): Promise<StackAnalysisResult> {
      const { synthesis, units } = await analyse(deps, code, input.source);
      return { units, wiring: synthesis.wiring };
    },

    async readUnitOutputs(input: { run: RunRef; unitNames: string[] }): Promise<Record<string, Record<string, UnitOutput>>> {
      const out: Record<string, Record<string, UnitOutput>> = {};
      for (const unit of input.unitNames) {
        const key = stateKey(input.run.statePrefix, unit);
        try {
          const obj = await s3.send(new GetObjectCommand({ Bucket: deps.s3.bucket, Key: key }));
          const state = JSON.parse(await obj.Body!.transformToString()) as { outputs?: Record<string, { value: unknown; sensitive?: boolean; type?: unknown }> };
          out[unit] = await seal(input.run.runId, unit, Object.fromEntries(Object.entries(state.outputs ?? {}).map(([k, v]) => [k, { value: v.value, sensitive: !!v.sensitive, ...(v.type !== undefined ? { type: v.type } : {}) }])));
        } catch (e) {
          if (e instanceof NoSuchKey || (e as { name?: string }).name === 'NoSuchKey') out[unit] = {};
          else throw new Error(`reading state ${key}: ${(e as Error).message}`);
        }
      }
      return out;
    },

    async evaluateOutputs(input: TerraformBase & { unitOutputs: Record<string, Record<string, UnitOutput>> }): Promise<Record<string, UnitOutput>> {
      await deps.poolGuard?.(input.run.stateId, `root outputs of ${input.run.stack}/${input.run.state}`);
      const { synthesis } = await analyse(deps, code, input.source);
      const root = synthesis.outputs;
      const wiring = synthesis.wiring.outputs;
      if (Object.keys(root.files).length === 0) return {};
      // The outputs' expressions are the stack's code: evaluated by tofu as a job user of its own, in a job directory.
      const isolation = deps.isolation ?? processIsolation(deps.tfBinary);
      const ctx = currentActivityCtx();
      const sb = await whileAlive('sandbox', () => isolation.openJob('outputs', ctx.signal), { ctx });
      const dir = join(sb.dir, 'outputs');
      try {
        mkdirSync(dir);
        for (const [name, content] of Object.entries(root.files)) sb.writeFile(join(dir, name), content, 0o644);
        const vars: Record<string, unknown> = {};
        // Secret variables the outputs read: TF_VAR_ only, marked sensitive, redacted (as for units).
        const secretVars = deps.runSecrets ? await deps.runSecrets.variables(input.run) : new Map<string, string>();
        const secretEnv: Record<string, string> = {};
        const sensitive: Record<string, { sensitive: true }> = {};
        for (const v of wiring.rootVariables) {
          const sv = secretVars.get(v);
          if (sv !== undefined) { secretEnv[`TF_VAR_${v}`] = sv; sensitive[v] = { sensitive: true }; } else if (v in input.variables) vars[v] = input.variables[v];
        }
        if (Object.keys(sensitive).length) sb.writeFile(join(dir, 'stackly_secrets_override.tf.json'), JSON.stringify({ variable: sensitive }), 0o644);
        const secrets: unknown[] = [...secretVars.values()];
        for (const i of wiring.inputs) {
          const o = input.unitOutputs[i.fromUnit]?.[i.output];
          if (o) {
            const value = refs ? await resolveRef(refs, o.value) : o.value;
            vars[i.variable] = value;
            if (o.sensitive || i.sensitive) secrets.push(value);
          }
        }
        sb.writeFile(join(dir, 'inputs.auto.tfvars.json'), JSON.stringify(vars), 0o600);
        if (wiring.inputs.length) sb.writeFile(join(dir, INPUTS_FILE), typedInputsFile(wiring, input.unitOutputs), 0o644);
        await sb.handOver();
        const env = tofuEnv(isolation.cliConfig, { ...sb.env, ...secretEnv }, hostEnvironment());
        const common = { bin: isolation.tfBinary, userPrefix: isolation.userPrefix(sb.user), cwd: dir, env, redact: createRedactor(secrets), ctx };
        await runTofu({ ...common, args: ['init', '-input=false', '-no-color', '-backend=false'], phase: 'init', what: 'tofu init of the root outputs' });
        await runTofu({ ...common, args: ['apply', '-auto-approve', '-input=false', '-no-color', '-lock=false'], phase: 'apply', what: 'evaluating the root outputs' });
        const { stdout } = await runTofu({ ...common, args: ['output', '-json', '-no-color'], phase: 'output', what: 'reading the root outputs' });
        return await seal(input.run.runId, '_root', parseOutputs(stdout));
      } finally {
        void sb.close().catch((e: Error) => deps.logger.warn({ dir: sb.dir, err: e.message }, 'removing a job directory failed'));
      }
    },
  };
}
