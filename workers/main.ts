/**
 * Worker process. WORKER_KIND=control polls the control queue (workflows + light activities);
 * WORKER_KIND=execution polls the queue derived from its capabilities (tofu activities). Either way
 * in every account's namespace: one Temporal Worker per namespace (workers/namespaces.ts), each with
 * that namespace's codec and activities that act only in its account (activities/account-guard.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { loadConfigOrExit } from '../common/config';
import { createLogger } from '../common/logger';
import { CachingSecretBox, repositoryCredentialsResolver, transitSecretBoxes, VaultTransitSecretBox } from '../common/secret-box';
import { SafeTemporalLogger } from '../common/temporal-logger';
import { connectWorker, dataConverter } from '../common/temporal';
import { createVaultKeyring } from '../common/codec';
import { blobCipherFromKeyring } from '../activities/terraform';
import { processContainment } from '../activities/terraform/tofu';
import { configureProcessIsolation, processIsolation } from '../activities/terraform/sandbox';
import { createDb } from '../db';
import { accountIdsOfNamespace, readyNamespaces } from '../db/repos/accounts';
import { guardAccounts } from '../activities/account-guard';
import { startNamespaceWorkers } from './namespaces';
import { createGithubNotifier } from './github-notifier';
import { createControlActivities, createExecutionActivities } from '../activities';
import { CONTROL_TASK_QUEUE } from '../workflows/definitions';
import { taskQueueFor } from '../workflows/capabilities';
import { LIVE_SECONDS, newIncarnation, startRegistration } from './registration';

async function main(): Promise<void> {
  const cfg = loadConfigOrExit('worker');
  const workerId = cfg.WORKER_ID ?? `${cfg.WORKER_KIND}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  // This process, as opposed to an earlier one under the same (fixed) WORKER_ID: named in its lock claims.
  const incarnation = newIncarnation();
  const logger = createLogger(`worker:${workerId}`, cfg.LOG_LEVEL);
  // The SDK's own lines go through pino too, without failure messages (they may quote variables).
  Runtime.install({ logger: SafeTemporalLogger.toPino(logger, 'INFO') });
  const db = createDb({ url: cfg.DATABASE_URL, ...(cfg.DATABASE_SCHEMA ? { schema: cfg.DATABASE_SCHEMA } : {}) });
  const connection = await connectWorker(cfg);
  const capabilities = {
    features: cfg.WORKER_FEATURES,
    labels: cfg.WORKER_LABELS,
    resources: {},
    version: cfg.WORKER_VERSION,
  };
  const taskQueue = cfg.WORKER_KIND === 'control' ? CONTROL_TASK_QUEUE : taskQueueFor(capabilities);
  const workDir = cfg.STACKLY_WORK_DIR ?? join(tmpdir(), `stackly-${workerId}`);
  mkdirSync(workDir, { recursive: true });
  // Git mirrors, checkouts, logs: nothing of it is for the tofu jobs' users.
  chmodSync(workDir, 0o700);
  // Every payload this worker writes to Temporal is encrypted with the Transit key of its namespace.
  const keyring = createVaultKeyring({ vaultAddr: cfg.VAULT_ADDR, vaultToken: cfg.VAULT_TOKEN, transitMount: cfg.VAULT_TRANSIT_MOUNT });
  if (!cfg.S3_ACCESS_KEY_ID || !cfg.S3_SECRET_ACCESS_KEY) {
    if (cfg.WORKER_KIND === 'execution') throw new Error('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required for execution workers');
  }
  if (cfg.WORKER_KIND === 'execution') {
    // How tofu and its children are tied to this process (tried once here, then cached).
    const containment = processContainment();
    const line = { containment: containment.mode, how: containment.description };
    if (containment.mode === 'none') logger.warn(line, 'tofu containment: none; children of tofu may outlive a killed worker');
    else logger.info(line, `tofu containment: ${containment.mode}`);
    // Who tofu runs as (fails closed: a worker that cannot switch users runs no tofu unless told EXECUTION_ISOLATION=none).
    configureProcessIsolation({
      mode: cfg.EXECUTION_ISOLATION, uidRange: cfg.EXECUTION_UID_RANGE,
      ...(cfg.EXECUTION_SANDBOX_DIR ? { root: cfg.EXECUTION_SANDBOX_DIR } : {}),
      ...(cfg.TF_PROVIDER_MIRROR ? { providerMirror: cfg.TF_PROVIDER_MIRROR } : {}),
    });
    const isolation = processIsolation(cfg.TF_BINARY);
    const iline = { isolation: isolation.mode, how: isolation.description };
    if (isolation.mode === 'none') logger.warn(iline, 'EXECUTION ISOLATION OFF (EXECUTION_ISOLATION=none): stack code runs as this worker\'s user and can read its secrets; development only');
    else logger.info(iline, `execution isolation: ${isolation.mode}`);
    const range = cfg.EXECUTION_UID_RANGE.last - cfg.EXECUTION_UID_RANGE.first + 1;
    if (isolation.mode === 'uid' && range < cfg.WORKER_MAX_CONCURRENT_ACTIVITIES) logger.warn({ uids: range, maxConcurrent: cfg.WORKER_MAX_CONCURRENT_ACTIVITIES }, 'EXECUTION_UID_RANGE has fewer uids than concurrent activities: jobs wait for a free uid');
  }
  // Clone credentials of private repositories, decrypted with Vault Transit only when a fetch needs
  // them (activities/git-mirror.ts): the control worker's push analysis, and the execution workers'
  // checkouts of runs whose source names the repository.
  const secretBox = new CachingSecretBox(new VaultTransitSecretBox({
    addr: cfg.VAULT_ADDR, token: cfg.VAULT_TOKEN, mount: cfg.VAULT_TRANSIT_MOUNT, key: cfg.VAULT_SECRETS_KEY,
  }));
  const credentialsFor = repositoryCredentialsResolver(db, secretBox);
  const secretBoxFor = transitSecretBoxes({ addr: cfg.VAULT_ADDR, token: cfg.VAULT_TOKEN, mount: cfg.VAULT_TRANSIT_MOUNT });
  const s3 = {
    endpoint: cfg.S3_ENDPOINT ?? `https://s3.${cfg.S3_REGION}.amazonaws.com`, region: cfg.S3_REGION, bucket: cfg.S3_BUCKET,
    accessKeyId: cfg.S3_ACCESS_KEY_ID ?? '', secretAccessKey: cfg.S3_SECRET_ACCESS_KEY ?? '',
  };

  // The workflow code is bundled once and shared by the control Workers of every namespace.
  const workflowBundle = cfg.WORKER_KIND === 'control' ? { code: (await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: SafeTemporalLogger.toPino(logger, 'WARN') })).code } : undefined;
  const createWorker = async (namespace: string): Promise<Worker> => {
    // Strict: a payload that is not sealed with the namespace's key (written by a client without the
    // codec, or forged straight into the task queue) is refused, never handed to workflow or activity code.
    const codec = keyring.codec(namespace, { requireEncrypted: true });
    const guard = { namespace, accountsOf: (ns: string) => accountIdsOfNamespace(db, ns) };
    return cfg.WORKER_KIND === 'control'
      ? Worker.create({
        connection,
        namespace,
        taskQueue,
        workflowBundle: workflowBundle!,
        activities: guardAccounts(createControlActivities({
          db, logger, liveSeconds: LIVE_SECONDS, gitCacheDir: join(workDir, 'git'), credentialsFor, hookEnv: cfg['STACKLY_HOOK_*'], namespace,
        }), guard),
        dataConverter: dataConverter(codec),
      })
      : Worker.create({
        connection,
        namespace,
        taskQueue,
        activities: guardAccounts(createExecutionActivities({
          db, logger, workerId, incarnation, workDir, gitDir: join(workDir, 'git'), credentialsFor,
          // Plan files, plan JSON and logs in S3 are sealed with the namespace's key, as are the live log
          // chunks (run_log_chunks, stored under this namespace: only its account's api callers read them).
          tfBinary: cfg.TF_BINARY, s3, cipher: blobCipherFromKeyring(keyring, namespace),
          // Secret variables and masking keys, with the Transit key of the run's account (of this namespace only).
          secretBoxFor, namespace, workerLabels: cfg.WORKER_LABELS,
          stateCredentials: {
            ...(cfg.S3_STS_ENDPOINT ? { stsEndpoint: cfg.S3_STS_ENDPOINT } : {}),
            ...(cfg.S3_STATE_ROLE_ARN ? { roleArn: cfg.S3_STATE_ROLE_ARN } : {}),
            durationSeconds: cfg.STATE_CREDENTIALS_SECONDS,
          },
        }), guard),
        maxConcurrentActivityTaskExecutions: cfg.WORKER_MAX_CONCURRENT_ACTIVITIES,
        dataConverter: dataConverter(codec),
      });
  };
  // Every ready account's namespace, and this process's own (the platform account's, which the api makes at its start).
  const worker = startNamespaceWorkers({
    namespaces: async () => [...new Set([cfg.TEMPORAL_NAMESPACE, ...(await readyNamespaces(db))])],
    create: createWorker,
    refreshMs: cfg.WORKER_NAMESPACES_REFRESH_SECONDS * 1000,
    logger,
  });
  await worker.refresh();

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down');
    worker.shutdown();
  };
  const registration = await startRegistration(db, logger, { id: workerId, kind: cfg.WORKER_KIND, taskQueue, capabilities, incarnation }, {
    // Another process took this WORKER_ID: this one's locks count as dead, so it must not go on with tofu.
    onSuperseded: stop,
  });
  // The control worker tells GitHub what runs and pull-request plans did (workers/github-notifier.ts).
  const notifier = cfg.WORKER_KIND === 'control'
    ? createGithubNotifier({ db, logger, secretBox, pollMs: cfg.GITHUB_NOTIFIER_POLL_SECONDS * 1000, ...(cfg.STACKLY_PUBLIC_URL ? { publicUrl: cfg.STACKLY_PUBLIC_URL } : {}) })
    : undefined;
  logger.info({ taskQueue, capabilities, incarnation, namespaces: worker.serving() }, 'worker started');

  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  try {
    await worker.run();
  } finally {
    await notifier?.stop();
    await registration.stop();
    await connection.close();
    await db.destroy();
    logger.info('stopped');
  }
}

main().catch((e) => {
  process.stderr.write(`stackly worker: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
