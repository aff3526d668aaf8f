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
import { createGitActivities } from './git';
import { createRegistryActivities } from './registry';
import { createRoutingActivities } from './routing';
import { createRunActivities } from './runs';
import { createRunRequestActivities } from './run-requests';
import { createTerraformActivities, type BlobCipher } from './terraform';
import type { StateCredentialSettings } from './terraform/state-credentials';
import { createStackCode } from './terraform/stack-code';
import type { ControlActivities, ExecutionActivities } from '../workflows/model/activities';

export interface ControlDeps {
  db: Db;
  logger: Logger;
  liveSeconds: number;
  gitCacheDir: string;
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  /** Where hooks' secret_env / url_env are looked up: the worker config's `STACKLY_HOOK_*` variables. */
  hookEnv: Readonly<Record<string, string | undefined>>;
}

/** Light activities on the control worker: database, routing, git, registry (and drift schedules), hooks, drift checks. */
export function createControlActivities(deps: ControlDeps): ControlActivities {
  return {
    ...createRoutingActivities(deps),
    ...createRunActivities(deps),
    ...createRunRequestActivities(),
    ...createGitActivities(deps),
    ...createRegistryActivities(deps),
    ...createHookActivities({ logger: deps.logger, env: deps.hookEnv }),
    ...createDriftActivities(deps),
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
  /** Encrypts plan files and plan JSON before they go to S3. */
  cipher: BlobCipher;
  /** How per-unit state credentials are minted (terraform/state-credentials.ts). */
  stateCredentials?: StateCredentialSettings;
}

/** Heavy activities on execution workers: analysis and tofu plan/apply. */
export function createExecutionActivities(deps: ExecutionDeps): ExecutionActivities {
  // One checkout cache and one cached analysis per worker, for every activity group.
  const code = createStackCode(deps);
  return {
    ...createAnalysisActivities({ ...deps, code }),
    ...createTerraformActivities({ ...deps, code }),
    ...createPolicyActivities({ ...deps, code }),
  };
}
