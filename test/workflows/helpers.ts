/**
 * Shared setup of the StackRunWorkflow suites: a stack code and state registered straight in the
 * suite's schema (as the push workflow would), runs started on the suite's control queue, and
 * waiting on a run's progress query.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { StackConfig } from '../../workflows/model/stack';
import { stateKeyPrefix } from '../../common/state-keys';
import { approveSignal, progressQuery, rejectSignal, stackRunWorkflowId, type RunProgress, type StackRunInput } from '../../workflows/definitions';
import { recordApproval } from '../../db/repos/approvals';
import * as h from '../harness/services';
import type { Stackly } from '../harness/stackly';

const REPO_ROOT = resolve(__dirname, '..', '..');

export interface StackIds {
  accountId: string;
  codeId: string;
  stateId: string;
  commit: string;
  /** The state's key prefix in the bucket, `<account>/<state-id>/`. */
  statePrefix: string;
}

export interface StackSpec {
  /** Account name: the first segment of every state key in the bucket. */
  account: string;
  repoUrl: string;
  /** Directory of the stack in the repository. */
  repoPath: string;
  commit: string;
  name: string;
  requires: StackConfig['requires'];
  autoDeploy?: boolean;
  parallelism?: number;
  environment?: string;
  state?: string;
  /** The state's Terraform variables. */
  variables?: Record<string, string>;
}

/** The `stack.hcl` matching `spec` (the run reads the registered config; the file keeps the repository honest). */
export function stackHcl(spec: Omit<StackSpec, 'account' | 'repoUrl' | 'repoPath' | 'commit'>): string {
  const labels = Object.entries(spec.requires.labels).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ');
  const vars = Object.entries(spec.variables ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n      ');
  return `stack "${spec.name}" {
  environment = "${spec.environment ?? 'test'}"
  auto_deploy = ${spec.autoDeploy ?? false}
  parallelism = ${spec.parallelism ?? 4}
  requires {
    features = ${JSON.stringify(spec.requires.features)}
    labels   = { ${labels} }
  }
  state "${spec.state ?? 'test'}" {
    variables {
      ${vars}
    }
  }
}
`;
}

/**
 * Approves or rejects as the api does: records it in Postgres for the run's operation (who, their
 * groups), then nudges the run with a signal that carries nothing the run believes.
 */
export async function decide(
  s: Stackly, handle: WorkflowHandle,
  d: { by: string; groups?: string[]; scope?: string; comment?: string; decision?: 'approve' | 'reject' },
): Promise<void> {
  const op = await s.t.db.selectFrom('operations').innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .select(['operations.id', 'stack_states.account_id']).where('operations.workflow_id', '=', handle.workflowId)
    .orderBy('operations.started_at', 'desc').executeTakeFirstOrThrow();
  const decision = d.decision ?? 'approve';
  await recordApproval(s.t.db, {
    operationId: op.id, workflowId: handle.workflowId, scope: d.scope ?? 'review', approver: d.by, principalId: `test:${d.by}`,
    accountId: op.account_id, groups: d.groups ?? [], decision, comment: d.comment ?? null,
  });
  await handle.signal(decision === 'approve' ? approveSignal : rejectSignal, { by: d.by, scope: d.scope ?? 'review' });
}

/** Finds or creates the account. */
export async function ensureAccount(s: Stackly, name: string): Promise<string> {
  const have = await s.t.db.selectFrom('accounts').select('id').where('name', '=', name).executeTakeFirst();
  if (have) return have.id;
  const acct = await s.t.db.insertInto('accounts').values({ name, temporal_namespace: s.namespace }).returning('id').executeTakeFirstOrThrow();
  return acct.id;
}

/** Registers a stack code and one state of it, as the push workflow would. */
export async function registerStack(s: Stackly, spec: StackSpec): Promise<StackIds> {
  const accountId = await ensureAccount(s, spec.account);
  const stateName = spec.state ?? 'test';
  const config: StackConfig = {
    name: spec.name, environment: spec.environment ?? 'test', execution: 'modules', autoDeploy: spec.autoDeploy ?? false,
    onDelete: 'loose', parallelism: spec.parallelism ?? 4, requires: spec.requires, variables: {},
    states: [{ name: stateName, variables: spec.variables ?? {} }], policies: [],
    hooks: { prePlan: [], postPlan: [], preApply: [], postApply: [] },
  };
  const code = await s.t.db.insertInto('stack_codes').values({
    account_id: accountId, repo_url: spec.repoUrl, repo_path: spec.repoPath, name: spec.name, current_commit: spec.commit,
    config: JSON.stringify(config), status: 'active',
  }).returning('id').executeTakeFirstOrThrow();
  const id = randomUUID();
  const statePrefix = stateKeyPrefix(spec.account, id);
  await s.t.db.insertInto('stack_states').values({
    id, account_id: accountId, stack_code_id: code.id, name: stateName, commit_hash: '0'.repeat(40),
    tf_state_key: statePrefix, variables: JSON.stringify(spec.variables ?? {}), metadata: '{}', status: 'active',
  }).execute();
  return { accountId, codeId: code.id, stateId: id, commit: spec.commit, statePrefix };
}

/** Starts a run of the state on the suite's control queue (a fresh workflow id each time). */
export function startRun(s: Stackly, ids: StackIds, kind: StackRunInput['kind'] = 'deploy'): Promise<WorkflowHandle> {
  return s.client.workflow.start('stackRunWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${stackRunWorkflowId(ids.stateId, ids.commit, kind)}-${Date.now()}`,
    args: [{ stateId: ids.stateId, stackCodeId: ids.codeId, commit: ids.commit, kind, trigger: { type: 'manual', by: 'tester' } } satisfies StackRunInput],
  });
}

const ENDED = ['succeeded', 'no_changes', 'failed', 'rejected', 'cancelled'];

/** Polls the progress query until `pred` holds; fails early when the run ended otherwise. */
export async function waitForProgress(handle: WorkflowHandle, pred: (p: RunProgress) => boolean, what: string, timeoutMs = 120_000): Promise<RunProgress> {
  const deadline = Date.now() + timeoutMs;
  let last: RunProgress | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(progressQuery);
    if (pred(last)) return last;
    if (ENDED.includes(last.phase)) throw new Error(`run ended ${last.phase} before ${what}: ${last.error ?? ''}; progress: ${JSON.stringify(last.units)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`no ${what} in time; last progress: ${JSON.stringify(last)}`);
}

/** Waits until the run is in one of `phases` (a terminal phase not listed fails). */
export async function waitForPhase(handle: WorkflowHandle, phases: string[], timeoutMs = 120_000): Promise<RunProgress> {
  return waitForProgress(handle, (p) => phases.includes(p.phase), `phase ${phases.join('/')}`, timeoutMs);
}

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  workDir: string;
  logFile: string;
  /** The process's incarnation, as it registered in `workers`. */
  incarnation: string;
  /** Resolves when the process has exited (with its exit code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a real execution worker as its own OS process (workers/main.ts, as in production), against
 * the suite's schema and the harness's services, and resolves once it registered in `workers` (this
 * process: a worker restarted under the same id is waited for too). `workDir`: reuse a directory
 * (a restart), else a new one.
 */
export async function spawnExecWorkerProcess(s: Stackly, id: string, labels: Record<string, string>, opts: { workDir?: string } = {}): Promise<WorkerProcess> {
  const [temporal, vault, s3, tofu] = await Promise.all([h.temporal(), h.vault(), h.s3(), h.tofu()]);
  const workDir = opts.workDir ?? mkdtempSync(join(h.testStateDir(), `${id}-`));
  const logFile = join(workDir, 'worker.log');
  // The worker's config has no schema setting: the suite's schema goes in through the URL's options.
  const url = new URL(s.t.url);
  url.searchParams.set('options', `-c search_path=${s.t.schema}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info',
    DATABASE_URL: url.toString(),
    TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace,
    VAULT_ADDR: vault.addr, VAULT_TOKEN: vault.token,
    S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    WORKER_KIND: 'execution', WORKER_ID: id, WORKER_FEATURES: 'terraform',
    WORKER_LABELS: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
    TF_BINARY: tofu, STACKLY_WORK_DIR: workDir,
  };
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'workers/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone: string | undefined;
  void exited.then((e) => { gone = `exited (${e.code ?? e.signal})`; });
  const deadline = Date.now() + 60_000;
  let incarnation: string | null = null;
  for (;;) {
    const row = await s.t.db.selectFrom('workers').select(['id', 'incarnation']).where('id', '=', id).where('pid', '=', child.pid ?? -1)
      .where('stopped_at', 'is', null).executeTakeFirst();
    if (row) { incarnation = row.incarnation; break; }
    if (gone || Date.now() > deadline) {
      if (!gone) child.kill('SIGKILL');
      throw new Error(`worker process ${id} did not register: ${gone ?? 'timeout'}\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { id, child, workDir, logFile, incarnation: incarnation ?? '', exited };
}

export interface OneResourceStackSpec {
  name: string;
  /** Environment, and the name of the stack's one state. */
  env: string;
  /** The suite's worker label (`requires.labels.suite`). */
  label: string;
  accountId: string;
  policies?: string[];
  /** A `hooks { … }` block for stack.hcl, as text. */
  hooks?: string;
  /** `triggers_replace` of the resource: a new value replaces it. */
  trigger?: string;
  autoDeploy?: boolean;
  /** More HCL appended to main.tf. */
  extraTf?: string;
  /** The registered repository of the stack code (hook env grants and worker pools are per repository). */
  repositoryId?: string;
}

/**
 * A stack of one `terraform_data.db` at `stacks/<name>` of `repo`, committed, with its stack code and
 * state registered the first time (later calls commit a new version and keep the same ids).
 */
export async function commitOneResourceStack(
  s: Stackly, repo: { work: string; url: string; commit(message: string): string }, spec: OneResourceStackSpec,
): Promise<StackIds> {
  const { name, env, label, accountId } = spec;
  const policies = spec.policies ?? [];
  const trigger = spec.trigger ?? 'v1';
  const autoDeploy = spec.autoDeploy ?? true;
  const dir = join(repo.work, 'stacks', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'main.tf'), `resource "terraform_data" "db" {\n  triggers_replace = "${trigger}"\n  input = "x"\n}\n${spec.extraTf ?? ''}`);
  writeFileSync(join(dir, 'stack.hcl'), `stack "${name}" {\n  environment = "${env}"\n  auto_deploy = ${autoDeploy}\n  policies = ${JSON.stringify(policies)}\n${spec.hooks ?? ''}\n  requires {\n    features = ["terraform"]\n    labels = { suite = "${label}" }\n  }\n  state "${env}" {}\n}\n`);
  const commit = repo.commit(`${name} ${trigger}`);
  const config = {
    name, environment: env, execution: 'modules', autoDeploy, onDelete: 'loose', parallelism: 1,
    requires: { features: ['terraform'], labels: { suite: label } }, variables: {},
    states: [{ name: env, variables: {} }], policies, hooks: { prePlan: [], postPlan: [], preApply: [], postApply: [] },
  };
  let code = await s.t.db.selectFrom('stack_codes').select('id').where('name', '=', name).executeTakeFirst();
  if (!code) {
    code = await s.t.db.insertInto('stack_codes').values({
      account_id: accountId, repo_url: repo.url, repo_path: `stacks/${name}`, name, current_commit: commit, repository_id: spec.repositoryId ?? null,
      config: JSON.stringify(config), status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
  }
  let state = await s.t.db.selectFrom('stack_states').select(['id', 'tf_state_key']).where('stack_code_id', '=', code.id).executeTakeFirst();
  if (!state) {
    const id = randomUUID();
    state = await s.t.db.insertInto('stack_states').values({
      id, account_id: accountId, stack_code_id: code.id, name: env, commit_hash: '0'.repeat(40), tf_state_key: stateKeyPrefix('acme', id),
      variables: '{}', metadata: '{}', status: 'active',
    }).returning(['id', 'tf_state_key']).executeTakeFirstOrThrow();
  }
  return { accountId, codeId: code.id, stateId: state.id, commit, statePrefix: state.tf_state_key };
}
