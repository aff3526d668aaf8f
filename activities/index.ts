/**
 * Activity factories, grouped by the worker that runs them. Each group is a factory over injected
 * dependencies that implements its port
 * of workflows/model/activities.ts, the interfaces workflows type their proxies with.
 */
import type { Logger } from 'pino';
import type { Db } from '../db';
import type { S3Settings } from '../common/s3';
import type { GitCredentials } from '../common/secret-box';
import { createAnalysisActivities } from './analysis';
import { createDriftActivities } from './drift';
import { createHookActivities } from './hooks';
import { createPolicyActivities } from './policies';
import { createPullRequestActivities } from './pull-requests';
import { createGitActivities } from './git';
import { createRegistryActivities } from './registry';
import { createRoutingActivities } from './routing';
import { createRunActivities } from './runs';
import { createRunRequestActivities } from './run-requests';
import { createTerraformActivities, type BlobCipher } from './terraform';
import type { StateCredentialSettings } from './terraform/state-credentials';
import { createStackCode } from './terraform/stack-code';
import { createRunSecrets } from './terraform/run-secrets';
import { createPoolGuard } from './pools';
import type { SecretBoxFor } from '../common/secret-variables';
import type { ControlActivities, ExecutionActivities } from '../workflows/model/activities';

export interface ControlDeps {
  db: Db;
  logger: Logger;
  liveSeconds: number;
  gitCacheDir: string;
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  /** Where hooks' secret_env / url_env are looked up: the worker config's `STACKLY_HOOK_*` variables. */
  hookEnv: Readonly<Record<string, string | undefined>>;
  /** The namespace these activities serve (hooks refuse runs of another namespace's accounts). */
  namespace?: string;
}

/** Light activities on the control worker: database, routing, git, registry (and drift schedules), hooks, drift checks. */
export function createControlActivities(deps: ControlDeps): ControlActivities {
  const git = createGitActivities(deps);
  return {
    ...createRoutingActivities(deps),
    // A run started through the API deploys only a commit of the tracked branch (checked on the same mirrors).
    // The deployed commit's gates are read from git at that commit when the git cache lacks them.
    ...createRunActivities({
      ...deps,
      unreachableCommits: (repo, commits) => git.findUnreachableCommits({ ...repo, commits }),
      fillGitCache: (repo, commit, dirs) => git.fillGitCache({ ...repo, commit, dirs }),
    }),
    ...createRunRequestActivities(),
    ...git,
    ...createRegistryActivities(deps),
    ...createHookActivities({ logger: deps.logger, env: deps.hookEnv, db: deps.db, ...(deps.namespace ? { namespace: deps.namespace } : {}) }),
    ...createDriftActivities(deps),
    ...createPullRequestActivities(deps),
  };
}

export interface ExecutionDeps {
  db: Db;
  logger: Logger;
  workerId: string;
  /** This worker process's incarnation (workers/registration.ts newIncarnation), named in its lock claims. */
  incarnation: string;
  workDir: string;
  gitDir: string;
  /**
   * Clone credentials of a registered repository (the control worker's resolver), for runs whose
   * source names its repositoryId.
   */
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  tfBinary: string;
  s3: S3Settings;
  /** Encrypts plan files, plan JSON and logs before they go to S3, and live log chunks. */
  cipher: BlobCipher;
  /** The worker's Temporal namespace: tofu's output is streamed to run_log_chunks under it (activities/terraform/log-stream.ts); secret variables and masking keys are read for runs of its account only. */
  namespace?: string;
  /**
   * SecretBoxes over accounts' Transit keys: secret variables of runs' states and runs' masking
   * keys (activities/terraform/run-secrets.ts).
   */
  secretBoxFor?: SecretBoxFor;
  /** This worker's labels: with a `pool` label it runs only stacks bound to that pool (activities/pools.ts). */
  workerLabels?: Readonly<Record<string, string>>;
  /** How per-unit state credentials are minted (terraform/state-credentials.ts). */
  stateCredentials?: StateCredentialSettings;
}

/** Heavy activities on execution workers: analysis and tofu plan/apply. */
export function createExecutionActivities(deps: ExecutionDeps): ExecutionActivities {
  // One checkout cache and one cached analysis per worker, for every activity group.
  const code = createStackCode(deps);
  const poolGuard = createPoolGuard({ db: deps.db, labels: deps.workerLabels ?? {}, ...(deps.namespace ? { namespace: deps.namespace } : {}) });
  const runSecrets = deps.secretBoxFor && deps.namespace ? createRunSecrets({ db: deps.db, secretBoxFor: deps.secretBoxFor, namespace: deps.namespace }) : undefined;
  return {
    ...createAnalysisActivities({ ...deps, code, poolGuard, ...(runSecrets ? { runSecrets } : {}) }),
    ...createTerraformActivities({ ...deps, code, poolGuard, ...(runSecrets ? { runSecrets } : {}) }),
    ...createPolicyActivities({ ...deps, code }),
  };
}
