/**
 * The Terraform activities of execution workers: the review plan of the whole original root against
 * the merged unit states, and per unit: plan and, when that plan fits what was approved, its apply in
 * the same job (planApplyUnit); or plan (saved plan file, encrypted, in S3) and apply of the saved
 * plan on whichever matching worker runs it (planUnit, applyUnit: destroy runs, and a difference a
 * human approved). Factory over injected dependencies; the contract is workflows/model/activities.ts.
 *
 * Every activity works in a fresh job directory of the sandbox (./sandbox.ts; removed afterwards),
 * owned by the uid the job's tofu runs as: the repository at the run's commit (stack-code.ts), and
 * for units the generated root of activities/hcl/synthesize.ts. tofu reaches the bucket only with
 * credentials minted for the unit's own state key (./state-credentials.ts); everything else in S3
 * (plans, logs, state reads for the review plan) is done by the worker. Plans and logs go to S3
 * under `runs/<runId>/`.
 */
import { hostEnvironment } from '../../common/config';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../db';
import { lockHolderAlive } from '../../db/repos/workers';
import type { Logger } from '../../common/logger';
import { s3Client, type S3Settings } from '../../common/s3';
import { stateKey } from '../../common/state-keys';
import { INPUTS_FILE, synthesize, typedInputsFile, type Synthesis, type SynthesizedRoot } from '../hcl/synthesize';
import type { UnitWiring } from '../../workflows/graph-types';
import { HclError, type ModuleStructure } from '../hcl/types';
import { mergeStates, outputsFromState, parseOutputs, summarizePlan } from './plan-json';
import { openLiveLog, type LiveLog, type LiveLogDeps } from './log-stream';
import { createRedactor, REDACTED, type Redactor } from './redact';
import type { RunSecrets } from './run-secrets';
import { resolveRefs, sealSensitiveOutputs, type RefStore } from './output-refs';
import { createStackCode, type StackCode } from './stack-code';
import {
  breakStateLock, deleteObject, getObject, lockClaimKey, putObject, readStateLock, type BlobCipher, type LockClaim,
} from './store';
import {
  currentActivityCtx, RunLog, runTofu, TofuError, toActivityFailure, tofuEnv, whileAlive, type ActivityCtx,
} from './tofu';
import { processIsolation, type Isolation, type SandboxJob } from './sandbox';
import { stateCredentialMinter, type StateCredentials, type StateCredentialSettings } from './state-credentials';
import type {
  ReviewPlan, TerraformBase, UnitApplyInput, UnitApplyResult, UnitOutput, UnitPlanApplyInput, UnitPlanApplyResult, UnitPlanInput, UnitPlanResult,
} from '../../workflows/model/terraform';
import { unitApplyingSignal } from '../../workflows/definitions';
import { checkFit } from '../../workflows/fit';
import type { TerraformActivities } from '../../workflows/model/activities';

export { readStateLock, deleteStateLock, breakStateLock, blobCipherFromKeyring, type BlobCipher, type StateLock } from './store';
export { createRedactor, REDACTED } from './redact';

export interface TerraformActivityDeps {
  db: Db;
  s3: S3Settings;
  /** tofu or terraform binary. */
  tfBinary: string;
  /** The worker's own directory: CLI config, plugin cache, git mirrors, job directories. */
  workDir: string;
  /** The stack's code and its analysis, one per worker (default: one of this factory's own, over `<workDir>/git`). */
  code?: StackCode;
  /** This worker's id (the `workers` table), recorded as the holder of the state locks it takes. */
  workerId: string;
  /**
   * This worker process's incarnation (the `workers` row's, replaced at each registration), recorded
   * with the worker id: a later process under the same id knows these locks' holder is dead.
   */
  incarnation: string;
  logger: Logger;
  /** Encrypts plan files, plan JSON, logs and live log chunks (blobCipherFromKeyring(keyring, namespace)). */
  cipher: BlobCipher;
  /**
   * The worker's Temporal namespace (its account's). With it, tofu's redacted output is streamed to
   * run_log_chunks while it runs (log-stream.ts), for GET /api/runs/:id/logs; without it, only the
   * log in S3 after each activity.
   */
  namespace?: string;
  /** Live logs: a batch is written this long after its first text (default 300 ms). */
  liveLogFlushMs?: number;
  /** Worker environment tofu may inherit PATH/HOME/TMPDIR/LANG from (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  heartbeatMs?: number;
  /** SIGINT → SIGKILL grace period on cancellation. */
  graceMs?: number;
  /** A worker is alive when it heartbeated within this many seconds (default 15). */
  liveWorkerSeconds?: number;
  /** Keep job directories (debugging). */
  keepJobs?: boolean;
  /** How jobs are isolated (default: this process's, sandbox.ts processIsolation: a uid per job). */
  isolation?: Isolation;
  /** How per-unit state credentials are minted (STS endpoint, role, lifetime). */
  stateCredentials?: StateCredentialSettings;
  /** Minting seam for tests (default: STS AssumeRole with the unit's session policy). */
  mintStateCredentials?: (stateKey: string, session: string) => Promise<StateCredentials>;
  /** Activity context seam for tests (default: the current Temporal activity context). */
  activityCtx?: () => ActivityCtx;
  /**
   * Secret variables of the run's state and the run's secret masking key (./run-secrets.ts). Without
   * it (tests of tofu alone) a run has no secret variables and plan summaries are masked with its id.
   */
  runSecrets?: RunSecrets;
  /** How planApplyUnit tells its run that the unit applies (default: unitApplyingSignal through the activity's client). */
  notifyApplying?: (runId: string, payload: { unit: string; attempt?: number; counts: UnitPlanResult['counts'] }) => Promise<void>;
  /** A pooled worker's check that the run's stack is bound to its pool (activities/pools.ts); before any checkout. */
  poolGuard?: (stateId: string, what: string) => Promise<void>;
}

export const REVIEW_UNIT = '_review';
export const reviewPlanJsonKey = (runId: string): string => `runs/${runId}/review.plan.json.enc`;
export const unitPlanKey = (runId: string, unit: string): string => `runs/${runId}/units/${unit}.tfplan.enc`;
/** An activity's whole redacted log, sealed with the account's key (the last attempt's). */
export const logKeyOf = (runId: string, unit: string, phase: string): string => `runs/${runId}/logs/${unit}-${phase}.log.enc`;
export const logPrefixOf = (runId: string): string => `runs/${runId}/logs/`;

const STATE_FILE_NAME = 'stackly-review.tfstate';
const OVERRIDE_FILE = 'stackly_override.tf.json';
const VAR_FILE = 'stackly.tfvars.json';
const PLAN_FILE = 'stackly.tfplan';
/** Marks the secret variables a root declares `sensitive` (an override file merges into their declarations). */
const SECRETS_OVERRIDE_FILE = 'stackly_secrets_override.tf.json';

interface Job {
  dir: string;
  sb: SandboxJob;
  /** The job directory given to the job's user (once, before its first tofu run). */
  handedOver?: Promise<void>;
  repoRoot: string;
  stackRoot: string;
  structure: ModuleStructure;
  syn?: Synthesis;
  redact: Redactor;
  log: RunLog;
  /** The live log the RunLog streams to (when the worker has a namespace). */
  live?: LiveLog;
  ctx: ActivityCtx;
  /** The state's secret variables, name → value: only in tofu's environment and this job's redactor. */
  secrets: Map<string, string>;
}

/** The activity's attempt and its workflow execution (the Temporal run id), or defaults outside an activity. */
function activityInfo(): { attempt: number; execution: string } {
  try {
    const i = Context.current().info;
    return { attempt: i.attempt, execution: i.workflowExecution?.runId ?? '' };
  } catch {
    return { attempt: 1, execution: '' };
  }
}

function configFailure(what: string, e: unknown): Error {
  if (e instanceof HclError) return ApplicationFailure.nonRetryable(`${what}: ${e.message}`, 'TerraformConfigError');
  return e as Error;
}

export function createTerraformActivities(deps: TerraformActivityDeps): TerraformActivities {
  const { logger } = deps;
  mkdirSync(deps.workDir, { recursive: true });
  // Git mirrors and checkouts: never readable by the job users.
  chmodSync(deps.workDir, 0o700);
  const isolation = deps.isolation ?? processIsolation(deps.tfBinary);
  const mint = deps.mintStateCredentials ?? stateCredentialMinter(deps.s3, deps.stateCredentials);
  const s3: S3Client = s3Client(deps.s3);
  const bucket = deps.s3.bucket;
  const baseEnv = deps.baseEnv ?? hostEnvironment();
  const getCtx = deps.activityCtx ?? currentActivityCtx;
  const liveSeconds = deps.liveWorkerSeconds ?? 15;
  /** Sensitive outputs leave as references to encrypted objects, and come back resolved (./output-refs.ts). */
  const refs: RefStore = { cipher: deps.cipher, put: (k, b) => putObject(s3, bucket, k, b), get: (k) => getObject(s3, bucket, k) };
  const withResolvedInputs = async <T extends UnitPlanInput>(input: T): Promise<T> => ({ ...input, inputs: await resolveRefs(refs, input.inputs) });
  /** The stack's analysis at a commit, parsed once per worker (the code at a commit never changes). */
  const code = deps.code ?? createStackCode({ workDir: deps.workDir, baseEnv });
  const live: LiveLogDeps | undefined = deps.namespace === undefined ? undefined : {
    db: deps.db, namespace: deps.namespace, cipher: deps.cipher, flushMs: deps.liveLogFlushMs,
    onError: (e) => logger.warn({ err: e.message }, 'storing a live log failed'),
  };

  /** Gives the job its redacted log of `unit`, streaming to a live log when the worker keeps them. */
  function attachLog(j: Job, input: TerraformBase, unit: string): void {
    j.live = live ? openLiveLog(live, { runId: input.run.runId, unit, ...activityInfo() }) : undefined;
    j.log = new RunLog(j.redact, j.live?.write);
  }

  /**
   * The backend's environment of one unit's run: credentials minted for its state key alone (a new
   * STS session per activity), never the worker's keys.
   */
  async function backendEnv(key: string, session: string): Promise<{ env: Record<string, string>; creds: StateCredentials; ms: number }> {
    const t0 = Date.now();
    const creds = await mint(key, session);
    return {
      creds, ms: Date.now() - t0,
      env: {
        AWS_ACCESS_KEY_ID: creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
        AWS_SESSION_TOKEN: creds.sessionToken,
        AWS_EC2_METADATA_DISABLED: 'true',
        // tofu's lock `Who` is user@hostname from the passwd entry; USER only helps where that lookup fails.
        USER: deps.workerId,
      },
    };
  }

  /** Sensitive values of this run: sensitive root variables, sensitive inputs, secret variables, the S3 secrets. */
  function redactorFor(job: Job, structure: ModuleStructure | undefined, input: TerraformBase, wiring?: UnitWiring, inputs?: Record<string, unknown>, creds?: StateCredentials): Redactor {
    const secrets: unknown[] = [deps.s3.secretAccessKey, ...job.secrets.values(), ...(creds ? [creds.secretAccessKey, creds.sessionToken] : [])];
    for (const [name, v] of Object.entries(input.variables)) if (structure?.variables[name]?.sensitive) secrets.push(v);
    for (const i of wiring?.inputs ?? []) if (i.sensitive && inputs && i.variable in inputs) secrets.push(inputs[i.variable]);
    return createRedactor(secrets);
  }

  async function openJob(kind: string, input: TerraformBase): Promise<Job> {
    await deps.poolGuard?.(input.run.stateId, `${kind} of ${input.run.stack}/${input.run.state}`);
    const ctx = getCtx();
    // Waits (alive) while every uid of the range is taken by running jobs.
    const sb = await whileAlive('sandbox', () => isolation.openJob(kind, ctx.signal), { ctx, everyMs: deps.heartbeatMs ?? 3000 });
    try {
      return await materialize(input, ctx, sb);
    } catch (e) {
      void sb.close(deps.keepJobs).catch(() => undefined);
      throw e;
    }
  }

  async function materialize(input: TerraformBase, ctx: ActivityCtx, sb: SandboxJob): Promise<Job> {
    const dir = sb.dir;
    const repoRoot = join(dir, 'src');
    // The heartbeat timeout (30 s) is how a dead worker is noticed; a slow checkout of a big repository
    // must not look like one, so this worker says it is alive until tofu takes over the heartbeats.
    const { stackRoot, analysis } = await whileAlive('materialize', async () => {
      await code.checkout(input.source, repoRoot);
      const root = resolve(repoRoot, input.source.stackPath || '.');
      if (!root.startsWith(repoRoot) || !existsSync(root)) {
        throw ApplicationFailure.nonRetryable(`materializing ${input.source.repoUrl}@${input.source.commit.slice(0, 12)}: stack directory "${input.source.stackPath}" does not exist`, 'TerraformConfigError');
      }
      try {
        return { stackRoot: root, analysis: await code.analysis(input.source, { repoRoot, stackRoot: root }) };
      } catch (e) {
        throw configFailure(`analysing stack ${input.run.stack} at ${input.source.commit.slice(0, 12)}`, e);
      }
    }, { ctx, everyMs: deps.heartbeatMs ?? 3000 });
    const want = input.units.units.map((u) => u.name).join(',');
    const have = analysis.units.units.map((u) => u.name).join(',');
    if (want !== have) {
      throw ApplicationFailure.nonRetryable(`the unit graph of the run (${want}) differs from the code at ${input.source.commit.slice(0, 12)} (${have})`, 'UnitGraphMismatch');
    }
    const secrets = deps.runSecrets ? await deps.runSecrets.variables(input.run) : new Map<string, string>();
    const job: Job = { dir, sb, repoRoot, stackRoot, structure: analysis.structure, redact: createRedactor([...secrets.values()]), log: new RunLog((t) => t), ctx, secrets };
    job.syn = synthesize({
      structure: analysis.structure, callGraph: analysis.callGraph, units: analysis.units,
      repoRoot, stackRoot, unitsDir: join(dir, 'units'),
      backend: { type: 's3', prefix: input.run.statePrefix },
    });
    return job;
  }

  function closeJob(job: Job | undefined): void {
    // Removed in the background: a synchronous removal held the worker's one JavaScript thread (and so
    // every other activity's progress) for the whole tree. The job's uid is free once it is gone.
    if (job) void job.sb.close(deps.keepJobs).catch((e: Error) => logger.warn({ dir: job.dir, err: e.message }, 'removing a job directory failed'));
  }

  /** The live log's last chunks first (durable before the activity ends), then the whole log, sealed, to S3. */
  async function uploadLog(job: Job | undefined, key: string, split?: { to: number; restTo: string }): Promise<void> {
    if (!job) return;
    const text = job.log.text();
    await job.live?.close();
    const parts = split ? [{ key, text: text.slice(0, split.to) }, { key: split.restTo, text: text.slice(split.to) }] : [{ key, text }];
    await Promise.all(parts.map((p) => deps.cipher.encrypt(Buffer.from(p.text, 'utf8'))
      .then((sealed) => putObject(s3, bucket, p.key, sealed))
      .catch((e: Error) => logger.warn({ key: p.key, err: e.message }, 'uploading a tofu log failed'))));
  }

  /** Variable values go through a 0600 file of the job's user, never argv; the file is removed after use. */
  function writeVarFile(job: Job, dir: string, values: Record<string, unknown>): string {
    const file = join(dir, VAR_FILE);
    job.sb.writeFile(file, JSON.stringify(values), 0o600);
    return file;
  }

  function unitRoot(job: Job, unit: string): { root: SynthesizedRoot; wiring: UnitWiring } {
    const syn = job.syn!;
    if (unit === syn.outputs.unit) return { root: syn.outputs, wiring: syn.wiring.outputs };
    const root = syn.units.find((u) => u.unit === unit);
    const wiring = syn.wiring.units.find((w) => w.unit === unit);
    if (!root || !wiring) throw ApplicationFailure.nonRetryable(`unit "${unit}" is not in the stack's unit graph`, 'UnknownUnit');
    return { root, wiring };
  }

  function writeUnitRoot(job: Job, root: SynthesizedRoot): string {
    const dir = join(job.dir, 'units', root.dir);
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(root.files)) job.sb.writeFile(join(dir, f), text, 0o644);
    // Bucket, region and endpoint at init; credentials only through the environment.
    const s = deps.s3;
    job.sb.writeFile(join(dir, 'stackly.s3.tfbackend'), [
      `bucket = ${JSON.stringify(s.bucket)}`,
      `region = ${JSON.stringify(s.region)}`,
      `endpoints = { s3 = ${JSON.stringify(s.endpoint)} }`,
      'use_path_style = true',
      'use_lockfile = true',
      'skip_credentials_validation = true',
      'skip_requesting_account_id = true',
      'skip_metadata_api_check = true',
      'skip_region_validation = true',
      '',
    ].join('\n'), 0o644);
    return dir;
  }

  /**
   * Writes the unit's generated root for this job (inputs declared with their exact types) and sets the
   * job's redactor and log for it: what planUnit and applyUnit both do before `tofu init`.
   */
  async function prepareUnit(j: Job, input: UnitPlanInput, phase: string) {
    const { root, wiring } = unitRoot(j, input.unit);
    const key = stateKey(input.run.statePrefix, input.unit);
    const { env: backend, creds, ms } = await backendEnv(key, `${input.unit}-${phase}-${input.run.runId}`);
    j.redact = redactorFor(j, j.structure, input, wiring, input.inputs, creds);
    attachLog(j, input, input.unit);
    logger.debug({ runId: input.run.runId, unit: input.unit, phase, ms }, 'state credentials minted');
    const dir = writeUnitRoot(j, root);
    writeTypedInputs(j, dir, wiring, input);
    const what = (verb: string) => `tofu ${verb} of unit ${input.unit}`;
    const env = { ...backend, ...secretVariablesFor(j, dir, wiring.rootVariables) };
    const init = () => step(j, 'init', () => tf(j, dir, 'init', what('init'), ['init', '-input=false', '-no-color', '-backend-config=stackly.s3.tfbackend'], { env }));
    return { dir, wiring, what, env, init };
  }

  /** Re-declares the unit's inputs with the upstream outputs' exact types, when the run knows them. */
  function writeTypedInputs(job: Job, dir: string, wiring: UnitWiring, input: UnitPlanInput): void {
    const types = input.inputTypes ?? {};
    if (!wiring.inputs.length || !Object.keys(types).length) return;
    const produced: Record<string, Record<string, { type?: unknown }>> = {};
    for (const i of wiring.inputs) if (i.variable in types) (produced[i.fromUnit] ??= {})[i.output] = { type: types[i.variable] };
    job.sb.writeFile(join(dir, INPUTS_FILE), typedInputsFile(wiring, produced), 0o644);
  }

  /**
   * The secret variables a root declares: `TF_VAR_<name>` for tofu's environment, and an override
   * file in `dir` marking them sensitive (tofu masks them in its output; plan JSON marks what they reach).
   */
  function secretVariablesFor(job: Job, dir: string, declared: Iterable<string>): Record<string, string> {
    const env: Record<string, string> = {};
    const sensitive: Record<string, { sensitive: true }> = {};
    for (const name of declared) {
      const value = job.secrets.get(name);
      if (value === undefined) continue;
      env[`TF_VAR_${name}`] = value;
      sensitive[name] = { sensitive: true };
    }
    if (Object.keys(sensitive).length) job.sb.writeFile(join(dir, SECRETS_OVERRIDE_FILE), `${JSON.stringify({ variable: sensitive }, null, 2)}\n`, 0o644);
    return env;
  }

  /** A plan summary (an activity result: Temporal history) with any secret that escaped masking redacted. */
  function scrubSummary<T>(job: Job, summary: T): T {
    return job.secrets.size ? JSON.parse(job.redact(JSON.stringify(summary))) as T : summary;
  }

  /** Plan JSON as it may leave tofu: secret variables' values dropped, every secret redacted. */
  function scrubPlanJson(job: Job, planJson: string): string {
    if (!job.secrets.size) return planJson;
    const plan = JSON.parse(planJson) as { variables?: Record<string, { value?: unknown }> };
    for (const name of job.secrets.keys()) if (plan.variables?.[name]) plan.variables[name] = { value: REDACTED };
    return job.redact(JSON.stringify(plan));
  }

  const maskKeyOf = (input: TerraformBase): Promise<string> => (deps.runSecrets ? deps.runSecrets.maskKey(input.run) : Promise.resolve(input.run.runId));

  function unitVariables(job: Job, wiring: UnitWiring, input: UnitPlanInput): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    // A secret variable's value comes from TF_VAR_ only (a var file would win over it).
    for (const v of wiring.rootVariables) if (v in input.variables && !job.secrets.has(v)) values[v] = input.variables[v];
    const missing: string[] = [];
    for (const i of wiring.inputs) {
      if (i.variable in input.inputs) values[i.variable] = input.inputs[i.variable];
      else missing.push(`${i.variable} (from ${i.fromUnit})`);
    }
    if (missing.length) throw ApplicationFailure.nonRetryable(`unit ${input.unit}: inputs missing: ${missing.join(', ')}`, 'MissingInputs');
    return values;
  }

  const tf = async (job: Job, cwd: string, phase: string, what: string, args: string[], opts: { log?: boolean; env?: Record<string, string>; okExitCodes?: number[] } = {}) => {
    // Everything the worker wrote so far becomes the job user's before its first tofu run.
    await (job.handedOver ??= job.sb.handOver());
    return runTofu({
      bin: isolation.tfBinary, args, cwd, phase, what, okExitCodes: opts.okExitCodes,
      userPrefix: isolation.userPrefix(job.sb.user),
      env: tofuEnv(isolation.cliConfig, { ...job.sb.env, ...(opts.env ?? {}) }, baseEnv),
      redact: job.redact,
      log: opts.log === false ? undefined : job.log,
      ctx: job.ctx,
      heartbeatMs: deps.heartbeatMs,
      graceMs: deps.graceMs,
    });
  };

  /** Wraps a tofu step: logs a section, maps TofuError to the Temporal failure kind. */
  async function step<T>(job: Job, title: string, fn: () => Promise<T>): Promise<T> {
    job.log.section(title);
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TofuError) throw toActivityFailure(e);
      throw e;
    }
  }

  /**
   * While tofu runs plan/apply on a unit's state, records which worker and run took the state lock
   * (`<state>.tflock.stackly`, naming the lock id), so a later attempt can tell a dead holder from a
   * live one. Polls until the lock that appeared after tofu started is claimed.
   */
  function claimLocks(key: string, unit: string, phase: string, runId: string): { stop(): Promise<void> } {
    const since = Date.now() - 1000;
    let claimedId: string | undefined;
    let busy = false;
    let inflight: Promise<void> = Promise.resolve();
    const tick = (): Promise<void> => {
      if (!busy && !claimedId) inflight = claimOnce();
      return inflight;
    };
    const claimOnce = async (): Promise<void> => {
      busy = true;
      try {
        const lock = await readStateLock(s3, bucket, key);
        if (!lock || !lock.id) return;
        if (Date.parse(lock.created) < since) return; // someone else's older lock; tofu will report it
        // A lock already claimed (by its lock id) is another worker's, however recent: never take it over.
        if (lock.holder) return;
        const claim: LockClaim = { lockId: lock.id, workerId: deps.workerId, incarnation: deps.incarnation, runId, unit, phase, claimedAt: new Date().toISOString() };
        await putObject(s3, bucket, lockClaimKey(key), JSON.stringify(claim), 'application/json');
        claimedId = lock.id;
      } catch (e) {
        logger.debug({ key, err: (e as Error).message }, 'claiming the state lock');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), 300);
    void tick();
    return {
      async stop() {
        clearInterval(timer);
        // A claim being written right now must land before it is judged (else it would outlive the lock).
        await inflight;
        if (!claimedId) return;
        // The lock is released by now; drop the claim unless another lock (and claim) replaced it.
        const current = await readStateLock(s3, bucket, key).catch(() => undefined);
        if (!current) await getObject(s3, bucket, lockClaimKey(key)).then(async (raw) => {
          if (raw && (JSON.parse(raw.toString('utf8')) as LockClaim).lockId === claimedId) await deleteObject(s3, bucket, lockClaimKey(key));
        }).catch(() => undefined);
      },
    };
  }

  /**
   * tofu found the state locked. Break the lock only when Stackly knows its holder and that worker
   * process is not alive (db/repos/workers.ts lockHolderAlive: same id, same incarnation, fresh
   * heartbeat); otherwise a retryable failure says who holds it. A process restarted under the same
   * worker id is a new incarnation: it breaks the locks its predecessor left.
   */
  async function handleHeldLock(key: string, what: string, runId: string): Promise<'broken'> {
    const lock = await readStateLock(s3, bucket, key);
    if (!lock) return 'broken'; // released meanwhile
    const desc = `lock ${lock.id} (${lock.operation || 'operation ?'} by ${lock.who || '?'} since ${lock.created || '?'}`;
    if (!lock.holder) {
      throw ApplicationFailure.retryable(`${what}: the state ${key} is locked by ${desc}), not taken by a Stackly worker that recorded itself; not breaking it (stackly state unlock, once nothing runs)`, 'StateLocked');
    }
    const h = lock.holder;
    if (await lockHolderAlive(deps.db, h, liveSeconds)) {
      const self = h.workerId === deps.workerId && h.incarnation === deps.incarnation ? ', this very process,' : '';
      throw ApplicationFailure.retryable(`${what}: the state ${key} is locked by worker ${h.workerId}${self} (run ${h.runId}, ${h.phase} of unit ${h.unit}), which is alive; ${desc})`, 'StateLocked');
    }
    const previous = h.workerId === deps.workerId && h.incarnation !== undefined && h.incarnation !== deps.incarnation;
    logger.warn({ key, lockId: lock.id, holder: h, runId, worker: deps.workerId, previousProcessOfThisWorker: previous },
      'breaking the state lock of a worker process that is no longer alive');
    await breakStateLock(s3, bucket, key, lock.id);
    return 'broken';
  }

  /** Runs a locking tofu step; on a held lock, breaks a dead holder's lock and tries once more. */
  async function lockedStep<T>(job: Job, title: string, key: string, unit: string, phase: string, runId: string, what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      job.log.section(attempt ? `${title} (after breaking a dead worker's lock)` : title);
      const claimer = claimLocks(key, unit, phase, runId);
      try {
        return await fn();
      } catch (e) {
        if (e instanceof TofuError && e.kind === 'lock' && attempt === 0) {
          await claimer.stop();
          await handleHeldLock(key, what, runId);
          job.log.append(`[stackly] the state lock of a dead worker was released; retrying\n`);
          continue;
        }
        if (e instanceof TofuError) throw toActivityFailure(e);
        throw e;
      } finally {
        await claimer.stop();
      }
    }
  }

  /**
   * The unit's plan in an opened job: its root written, `tofu init`, `tofu plan -out` (under the state
   * lock), `tofu show -json`; with no changes, its current outputs. The plan file stays in the job.
   */
  async function planInJob(j: Job, input: UnitPlanInput, phase: string) {
    const { dir, wiring, what, env, init } = await prepareUnit(j, input, phase);
    const key = stateKey(input.run.statePrefix, input.unit);
    const varFile = writeVarFile(j, dir, unitVariables(j, wiring, input));
    await init();
    const planFile = join(dir, PLAN_FILE);
    // A drift check refreshes (as every plan does) and asks for tofu's detailed exit code: 2 means changes.
    const args = ['plan', '-input=false', '-no-color', `-var-file=${varFile}`, `-out=${planFile}`, ...(input.destroy ? ['-destroy'] : []), ...(input.drift ? ['-refresh=true', '-detailed-exitcode'] : [])];
    let exitCode: number | undefined;
    try {
      const planned = await lockedStep(j, phase, key, input.unit, 'plan', input.run.runId, what('plan'), () => tf(j, dir, 'plan', what('plan'), args, { env, ...(input.drift ? { okExitCodes: [2] } : {}) }));
      if (input.drift) exitCode = planned.exitCode;
    } finally {
      j.sb.removeFile(varFile);
    }
    const { stdout } = await step(j, 'show', () => tf(j, dir, 'show', what('show'), ['show', '-json', '-no-color', planFile], { log: false, env }));
    const summary = scrubSummary(j, summarizePlan(stdout, await maskKeyOf(input)));
    const result: Omit<UnitPlanResult, 'planKey' | 'logKey'> = {
      unit: input.unit, changes: summary.changes, counts: summary.counts, hasChanges: summary.hasChanges, ...(exitCode !== undefined ? { exitCode } : {}),
    };
    if (!summary.hasChanges) {
      const out = await step(j, 'output', () => tf(j, dir, 'output', what('output'), ['output', '-json', '-no-color'], { log: false, env }));
      result.outputs = await sealSensitiveOutputs(refs, input.run.runId, input.unit, parseOutputs(out.stdout));
    }
    return { dir, env, what, planFile, result };
  }

  /**
   * The outputs the apply just wrote to the unit's state object: one S3 read instead of one more tofu
   * run on every unit's critical path; tofu is asked only when that is not a plain state.
   */
  async function outputsAfterApply(j: Job, key: string, dir: string, what: (verb: string) => string, env: Record<string, string>): Promise<Record<string, UnitOutput>> {
    const recorded = await getObject(s3, bucket, key);
    const outputs = recorded ? outputsFromState(recorded.toString('utf8')) : undefined;
    if (outputs) return outputs;
    const out = await step(j, 'output', () => tf(j, dir, 'output', what('output'), ['output', '-json', '-no-color'], { log: false, env }));
    return parseOutputs(out.stdout);
  }

  /** Tells the run the unit is about to apply (shown as applying; a lost worker now means re-plan as `resumed`). */
  async function notifyApplying(runId: string, payload: { unit: string; attempt?: number; counts: UnitPlanResult['counts'] }): Promise<void> {
    const send = deps.notifyApplying ?? ((id: string, p: typeof payload) => Context.current().client.workflow.getHandle(id).signal(unitApplyingSignal, p));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([send(runId, payload), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer in 5 s')), 5000); })]);
    } catch (e) {
      // Not fatal: without it the run shows the unit as planning and, should this worker die now,
      // re-plans it strictly (an approved change already applied then asks a human again).
      logger.warn({ runId, unit: payload.unit, err: (e as Error).message }, 'telling the run that the unit applies failed');
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async planReview(input: TerraformBase & { destroy?: boolean }): Promise<ReviewPlan> {
      const logKey = logKeyOf(input.run.runId, REVIEW_UNIT, input.destroy ? 'plan-destroy' : 'plan');
      const planJsonKey = reviewPlanJsonKey(input.run.runId);
      let job: Job | undefined;
      const started = Date.now();
      try {
        job = await openJob('review', input);
        job.redact = redactorFor(job, job.structure, input);
        attachLog(job, input, REVIEW_UNIT);
        const j = job;
        // The unit states, merged into the local state of the original root.
        const states: Array<{ unit: string; json: string }> = [];
        for (const u of input.units.units) {
          const raw = await getObject(s3, bucket, stateKey(input.run.statePrefix, u.name));
          if (raw) states.push({ unit: u.name, json: raw.toString('utf8') });
        }
        const statePath = join(j.dir, STATE_FILE_NAME);
        j.sb.writeFile(statePath, mergeStates(states), 0o600);
        j.sb.writeFile(join(j.stackRoot, OVERRIDE_FILE), JSON.stringify({ terraform: { backend: { local: { path: statePath } } } }, null, 2), 0o644);
        const values: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(input.variables)) if (k in j.structure.variables && !j.secrets.has(k)) values[k] = v;
        const varFile = writeVarFile(j, j.dir, values);
        const env = secretVariablesFor(j, j.stackRoot, Object.keys(j.structure.variables));
        const what = (verb: string) => `tofu ${verb} of the review plan of ${input.run.stack}/${input.run.state}`;
        await step(j, 'init', () => tf(j, j.stackRoot, 'init', what('init'), ['init', '-input=false', '-no-color'], { env }));
        const planFile = join(j.dir, PLAN_FILE);
        await step(j, 'plan', () => tf(j, j.stackRoot, 'plan', what('plan'), ['plan', '-input=false', '-no-color', '-lock=false', `-var-file=${varFile}`, `-out=${planFile}`, ...(input.destroy ? ['-destroy'] : [])], { env }));
        j.sb.removeFile(varFile);
        const { stdout } = await step(j, 'show', () => tf(j, j.stackRoot, 'show', what('show'), ['show', '-json', '-no-color', planFile], { log: false, env }));
        const summary = scrubSummary(j, summarizePlan(stdout, await maskKeyOf(input)));
        await putObject(s3, bucket, planJsonKey, await deps.cipher.encrypt(Buffer.from(scrubPlanJson(j, stdout))));
        logger.info({ runId: input.run.runId, states: states.length, counts: summary.counts, ms: Date.now() - started }, 'review plan done');
        return { changes: summary.changes, counts: summary.counts, planJsonKey, logKey };
      } finally {
        await uploadLog(job, logKey);
        closeJob(job);
      }
    },

    async planUnit(given: UnitPlanInput): Promise<UnitPlanResult> {
      const input = await withResolvedInputs(given);
      const phase = input.destroy ? 'plan-destroy' : 'plan';
      const logKey = logKeyOf(input.run.runId, input.unit, phase);
      const planKey = unitPlanKey(input.run.runId, input.unit);
      let job: Job | undefined;
      const started = Date.now();
      try {
        job = await openJob(`${input.unit}-plan`, input);
        const p = await planInJob(job, input, phase);
        await putObject(s3, bucket, planKey, await deps.cipher.encrypt(job.sb.readFile(p.planFile)));
        const result: UnitPlanResult = { ...p.result, planKey, logKey };
        logger.info({ runId: input.run.runId, unit: input.unit, counts: result.counts, ms: Date.now() - started }, 'unit plan done');
        return result;
      } finally {
        await uploadLog(job, logKey);
        closeJob(job);
      }
    },

    async planApplyUnit(given: UnitPlanApplyInput): Promise<UnitPlanApplyResult> {
      const input = await withResolvedInputs(given);
      const planLogKey = logKeyOf(input.run.runId, input.unit, 'plan');
      const applyLogKey = logKeyOf(input.run.runId, input.unit, 'apply');
      const key = stateKey(input.run.statePrefix, input.unit);
      let job: Job | undefined;
      /** Where the plan's part of the job's log ends once the apply has begun. */
      let applyFrom: number | undefined;
      const started = Date.now();
      try {
        job = await openJob(`${input.unit}-plan-apply`, input);
        const j = job;
        const p = await planInJob(j, input, 'plan');
        const plan: UnitPlanResult = { ...p.result, planKey: '', logKey: planLogKey };
        if (!plan.hasChanges) return { plan };
        const members = input.units.units.find((u) => u.name === input.unit)?.members ?? [];
        const fit = checkFit(input.approved, plan.changes, members, { resumed: input.resumed });
        if (!fit.fits) {
          // A human decides; the plan is kept for the applyUnit that follows an approval.
          const planKey = unitPlanKey(input.run.runId, input.unit);
          await putObject(s3, bucket, planKey, await deps.cipher.encrypt(j.sb.readFile(p.planFile)));
          return { plan: { ...plan, planKey }, problems: fit.problems };
        }
        // The plan fits what was approved: apply this very plan file, in this job (already initialised).
        applyFrom = j.log.text().length;
        await notifyApplying(input.run.runId, { unit: input.unit, attempt: input.attempt, counts: plan.counts });
        try {
          await lockedStep(j, 'apply', key, input.unit, 'apply', input.run.runId, p.what('apply'), () => tf(j, p.dir, 'apply', p.what('apply'), ['apply', '-input=false', '-no-color', p.planFile], { env: p.env }));
          const outputs = await outputsAfterApply(j, key, p.dir, p.what, p.env);
          logger.info({ runId: input.run.runId, unit: input.unit, counts: plan.counts, ms: Date.now() - started }, 'unit plan and apply done');
          return { plan, applied: { unit: input.unit, outputs: await sealSensitiveOutputs(refs, input.run.runId, input.unit, outputs), logKey: applyLogKey } };
        } catch (e) {
          // Once tofu may have changed something, the run re-plans and checks the fit again; never a blind retry.
          if (e instanceof ApplicationFailure && !e.nonRetryable) {
            throw ApplicationFailure.create({ message: e.message, type: e.type ?? undefined, nonRetryable: true, details: e.details as unknown[] | undefined, cause: e.cause });
          }
          throw e;
        }
      } finally {
        await uploadLog(job, planLogKey, applyFrom === undefined ? undefined : { to: applyFrom, restTo: applyLogKey });
        closeJob(job);
      }
    },

    async applyUnit(given: UnitApplyInput): Promise<UnitApplyResult> {
      const input = await withResolvedInputs(given);
      const phase = input.destroy ? 'apply-destroy' : 'apply';
      const logKey = logKeyOf(input.run.runId, input.unit, phase);
      const key = stateKey(input.run.statePrefix, input.unit);
      let job: Job | undefined;
      const started = Date.now();
      try {
        job = await openJob(`${input.unit}-apply`, input);
        const j = job;
        const { dir, what, env, init } = await prepareUnit(j, input, phase);
        const sealed = await getObject(s3, bucket, input.planKey);
        if (!sealed) throw ApplicationFailure.nonRetryable(`applying unit ${input.unit}: the saved plan ${input.planKey} is not in the bucket`, 'PlanMissing');
        const planFile = join(dir, PLAN_FILE);
        j.sb.writeFile(planFile, await deps.cipher.decrypt(sealed), 0o600);
        await init();
        await lockedStep(j, phase, key, input.unit, 'apply', input.run.runId, what('apply'), () => tf(j, dir, 'apply', what('apply'), ['apply', '-input=false', '-no-color', planFile], { env }));
        const outputs = await outputsAfterApply(j, key, dir, what, env);
        logger.info({ runId: input.run.runId, unit: input.unit, ms: Date.now() - started }, 'unit apply done');
        return { unit: input.unit, outputs: await sealSensitiveOutputs(refs, input.run.runId, input.unit, outputs), logKey };
      } finally {
        await uploadLog(job, logKey);
        closeJob(job);
      }
    },
  };
}
