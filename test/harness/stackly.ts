/**
 * A whole Stackly inside the test process, against the harness's real services: a migrated schema,
 * the control worker (workflows + control activities) and execution workers with capability labels,
 * all with the Vault Transit codec. Used by the workflow and end-to-end suites.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createControlActivities, createExecutionActivities } from '../../activities';
import { blobCipherFromKeyring, type BlobCipher } from '../../activities/terraform';
import { createVaultKeyring, ensureNamespaceKey } from '../../common/codec';
import { waitForRunStarted } from '../../activities/run-requests';
import { dataConverter } from '../../common/temporal';
import { transitSecretBoxes } from '../../common/secret-box';
import { registerWorker, heartbeatWorker, markWorkerStopped } from '../../db/repos/workers';
import { newIncarnation } from '../../workers/registration';
import { taskQueueFor } from '../../workflows/capabilities';
import { CONTROL_TASK_QUEUE } from '../../workflows/definitions';
import { recordSuiteHistories } from '../replay/record';
import { createTestDb, type TestDb } from './db';
import * as h from './services';

export interface ExecWorker {
  id: string;
  /** This worker's incarnation (its `workers` row, its lock claims). */
  incarnation: string;
  worker: Worker;
  running: Promise<void>;
  stop(): Promise<void>;
}

export interface Stackly {
  t: TestDb;
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Seals and opens with the namespace's key, as the workers do (plans, logs, live log chunks). */
  cipher: BlobCipher;
  startExecWorker(id: string, labels: Record<string, string>, features?: string[]): Promise<ExecWorker>;
  stop(): Promise<void>;
}

/**
 * The result of a run a push or the api asked for. The state's queue starts a run a moment after it
 * was asked for, so its workflow may not exist yet: wait for it before asking for the result.
 */
export async function runResult<T = unknown>(client: Client, runId: string, startTimeoutMs = 60_000): Promise<T> {
  if (!(await waitForRunStarted(client, runId, startTimeoutMs))) throw new Error(`run ${runId} was not started by its state's queue within ${startTimeoutMs} ms`);
  return (await client.workflow.getHandle(runId).result()) as T;
}

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * `taskQueue`: the control worker's queue; default one of the suite's own. A suite that drives runs
 * through the real api process (which starts them on CONTROL_TASK_QUEUE) passes that.
 */
export async function startStackly(label: string, opts: { taskQueue?: string } = {}): Promise<Stackly> {
  const since = new Date();
  const [t, temporal, vault, s3, tofu] = await Promise.all([createTestDb(label), h.temporal(), h.vault(), h.s3(), h.tofu()]);
  await ensureNamespaceKey({ vaultAddr: vault.addr, vaultToken: vault.token, namespace: temporal.namespace });
  const keyring = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token });
  const codec = keyring.codec(temporal.namespace);
  // Workers decode strictly (as workers/main.ts): a payload not sealed by the codec is refused.
  const workerCodec = keyring.codec(temporal.namespace, { requireEncrypted: true });
  const dir = mkdtempSync(join(h.testStateDir(), `${label}-`));
  // Each suite gets its own control queue, so suites sharing one Temporal server never steal work.
  const taskQueue = opts.taskQueue ?? `${CONTROL_TASK_QUEUE}-${label}-${t.schema.slice(-8)}`;
  const nc = await NativeConnection.connect({ address: temporal.address });
  const control = await Worker.create({
    connection: nc, namespace: temporal.namespace, taskQueue,
    workflowsPath: require.resolve('../../workflows'),
    // Hooks look up secret_env / url_env here (names validated as STACKLY_HOOK_*; workers/main.ts passes its config's record).
    activities: createControlActivities({ db: t.db, logger, liveSeconds: 15, gitCacheDir: join(dir, 'control-git'), hookEnv: process.env }),
    dataConverter: dataConverter(workerCodec),
  });
  const controlRun = control.run();
  const conn = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection: conn, namespace: temporal.namespace, dataConverter: dataConverter(codec) });
  const execWorkers: ExecWorker[] = [];
  let heartbeat: NodeJS.Timeout | undefined;

  return {
    t, client, namespace: temporal.namespace, taskQueue, cipher: blobCipherFromKeyring(keyring, temporal.namespace),
    async startExecWorker(id, labels, features = ['terraform']) {
      const caps = { features, labels, resources: {}, version: 'test' };
      // Labels are suffixed with the suite's schema so queues of different suites never mix.
      const q = taskQueueFor(caps);
      const workDir = join(dir, id);
      mkdirSync(workDir, { recursive: true });
      const incarnation = newIncarnation();
      const worker = await Worker.create({
        connection: nc, namespace: temporal.namespace, taskQueue: q,
        activities: createExecutionActivities({
          db: t.db, logger, workerId: id, incarnation, workDir, gitDir: join(workDir, 'git'), tfBinary: tofu, s3,
          cipher: blobCipherFromKeyring(keyring, temporal.namespace),
          secretBoxFor: transitSecretBoxes({ addr: vault.addr, token: vault.token }), namespace: temporal.namespace, workerLabels: labels,
        }),
        dataConverter: dataConverter(workerCodec),
        maxConcurrentActivityTaskExecutions: 6,
      });
      await registerWorker(t.db, { id, kind: 'execution', taskQueue: q, capabilities: caps, host: 'test', pid: process.pid, incarnation });
      heartbeat ??= setInterval(() => { for (const w of execWorkers) void heartbeatWorker(t.db, w.id, w.incarnation).catch(() => undefined); }, 3000);
      const running = worker.run();
      const w: ExecWorker = {
        id, incarnation, worker, running,
        async stop() {
          execWorkers.splice(execWorkers.indexOf(w), 1);
          await markWorkerStopped(t.db, id, incarnation);
          worker.shutdown();
          await running;
        },
      };
      execWorkers.push(w);
      return w;
    },
    async stop() {
      // STACKLY_RECORD_HISTORIES=<dir>: the histories of the suite's closed workflows, decoded (test/replay/record.ts).
      await recordSuiteHistories({ client, codec, taskQueue, since, label });
      clearInterval(heartbeat);
      for (const w of [...execWorkers]) await w.stop();
      control.shutdown();
      await controlRun;
      await conn.close();
      await nc.close();
      await t.drop();
    },
  };
}

/** A git repository (bare origin + work tree) made by the test; returns its file:// URL and helpers. */
export function makeRepo(base: string): { url: string; work: string; commit(msg: string): string } {
  const root = mkdtempSync(join(base, 'repo-'));
  const origin = join(root, 'origin.git');
  const work = join(root, 'work');
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } }).trim();
  execFileSync('git', ['init', '--quiet', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['init', '--quiet', '-b', 'main', work]);
  git(['remote', 'add', 'origin', origin], work);
  return {
    url: `file://${origin}`,
    work,
    commit(msg: string) {
      git(['add', '-A'], work);
      git(['commit', '--quiet', '--allow-empty', '-m', msg], work);
      git(['push', '--quiet', 'origin', 'main'], work);
      return git(['rev-parse', 'HEAD'], work);
    },
  };
}

export function copyFixture(from: string, to: string, extra: Record<string, string> = {}): void {
  cpSync(from, to, { recursive: true });
  for (const [f, content] of Object.entries(extra)) writeFileSync(join(to, f), content);
}
