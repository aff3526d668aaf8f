/**
 * Helpers of the webhook tests: real Git repositories made with the system git (a bare origin and a
 * working clone, file:// URLs), push payloads in GitHub's shape signed like GitHub signs them, an
 * in-process api and a control worker running pushWorkflow with test stand-ins for the run workflows.
 *
 * Everything a user runs is real: Postgres (a schema per suite), Temporal, and Vault from the harness.
 * The api and the worker use the namespace's Vault Transit payload codec, exactly as api/main.ts and
 * workers/main.ts do, and repository secrets go through the Vault-backed VaultTransitSecretBox.
 */
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { createGitActivities } from '../../../activities/git';
import { createRegistryActivities } from '../../../activities/registry';
import { createRunRequestActivities } from '../../../activities/run-requests';
import { buildApi } from '../../../api/server';
import { CachingSecretBox, VaultTransitSecretBox, repositoryCredentialsResolver, type SecretBox } from '../../../common/secret-box';
import { createVaultKeyring, ensureNamespaceKey } from '../../../common/codec';
import { createLogger } from '../../../common/logger';
import { dataConverter, fixedClients } from '../../../common/temporal';
import { ensureAccount } from '../../../db/repos/accounts';
import { CONTROL_TASK_QUEUE, WORKFLOWS } from '../../../workflows/definitions';
import { createTestDb, type TestDb } from '../../harness/db';
import { createPrincipal } from '../../harness/principals';
import * as h from '../../harness/services';
import { recordSuiteHistories } from '../../replay/record';

export const ZERO = '0000000000000000000000000000000000000000';
export const GLOBAL_SECRET = 'global-webhook-secret-for-tests';
/**
 * The Authorization header of the suite's admin `alice`: an API key setupEnv makes in the suite's
 * schema (suites run one after another, each sets it).
 */
export const AUTH: { authorization: string } = { authorization: '' };

/** A bare origin plus a working clone. */
export class GitRepo {
  readonly root: string;
  readonly origin: string;
  readonly work: string;
  readonly url: string;

  constructor(label: string) {
    this.root = mkdtempSync(join(h.testStateDir(), `git-${label}-`));
    this.origin = join(this.root, 'origin.git');
    this.work = join(this.root, 'work');
    execFileSync('git', ['init', '--bare', '--quiet', '-b', 'main', this.origin]);
    execFileSync('git', ['clone', '--quiet', this.origin, this.work], { stdio: 'ignore' });
    this.git('config', 'user.name', 'Ada Lovelace');
    this.git('config', 'user.email', 'ada@example.com');
    this.git('checkout', '--quiet', '-b', 'main');
    this.url = `file://${this.origin}`;
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  write(files: Record<string, string>): this {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.work, p)), { recursive: true });
      writeFileSync(join(this.work, p), content);
    }
    return this;
  }

  rm(path: string): this {
    this.git('rm', '-r', '--quiet', path);
    return this;
  }

  mv(from: string, to: string): this {
    mkdirSync(dirname(join(this.work, to)), { recursive: true });
    this.git('mv', from, to);
    return this;
  }

  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '--quiet', '-m', message);
    return this.head();
  }

  head(): string {
    return this.git('rev-parse', 'HEAD');
  }

  remoteHead(branch = 'main'): string {
    const out = execFileSync('git', ['--git-dir', this.origin, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { encoding: 'utf8' }).trim();
    return out;
  }

  /** Pushes the current HEAD to `branch`; returns before/after as GitHub reports them. */
  push(branch = 'main', force = false): { before: string; after: string } {
    let before = ZERO;
    try {
      before = this.remoteHead(branch);
    } catch {
      // new branch
    }
    this.git('push', '--quiet', ...(force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${branch}`);
    return { before, after: this.head() };
  }

  changed(before: string, after: string): { added: string[]; removed: string[]; modified: string[] } {
    const out: { added: string[]; removed: string[]; modified: string[] } = { added: [], removed: [], modified: [] };
    if (before === ZERO) {
      out.added = this.git('ls-tree', '-r', '--name-only', after).split('\n').filter(Boolean);
      return out;
    }
    for (const line of this.git('diff', '--name-status', '--no-renames', before, after).split('\n').filter(Boolean)) {
      const [st, p] = line.split('\t');
      (st === 'A' ? out.added : st === 'D' ? out.removed : out.modified).push(p!);
    }
    return out;
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A push payload in GitHub's shape. */
export function pushPayload(repo: GitRepo, opts: { ref?: string; before: string; after: string; forced?: boolean; deleted?: boolean; cloneUrl?: string }) {
  const ref = opts.ref ?? 'refs/heads/main';
  const changes = opts.deleted ? { added: [], removed: [], modified: [] } : repo.changed(opts.before, opts.after);
  const author = { name: 'Ada Lovelace', email: 'ada@example.com', username: 'ada' };
  const headCommit = opts.deleted ? null : {
    id: opts.after, tree_id: opts.after, distinct: true, message: 'change', timestamp: new Date().toISOString(),
    url: `${repo.url}/commit/${opts.after}`, author, committer: author, ...changes,
  };
  const cloneUrl = opts.cloneUrl ?? repo.url;
  return {
    ref,
    before: opts.before,
    after: opts.deleted ? ZERO : opts.after,
    created: opts.before === ZERO,
    deleted: opts.deleted ?? false,
    forced: opts.forced ?? false,
    base_ref: null,
    compare: `${cloneUrl}/compare/${opts.before.slice(0, 12)}...${opts.after.slice(0, 12)}`,
    commits: headCommit ? [headCommit] : [],
    head_commit: headCommit,
    repository: {
      id: 1, name: 'infra', full_name: 'acme/infra', private: false, default_branch: 'main',
      clone_url: cloneUrl, html_url: cloneUrl.replace(/\.git$/, ''), url: cloneUrl,
      owner: { login: 'acme', name: 'acme' },
    },
    pusher: { name: 'ada', email: 'ada@example.com' },
    sender: { login: 'ada', id: 7, type: 'User' },
  };
}

/** HMAC-SHA256 of the raw body, `sha256=<hex>`, as GitHub computes it (independent of the api's library). */
export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  status: number;
  body: Record<string, unknown>;
  deliveryId: string;
}

/** Posts a delivery to `baseUrl`; `secret: null` sends no signature. */
export async function deliver(
  baseUrl: string,
  payload: unknown,
  opts: { event?: string; deliveryId?: string; secret?: string | null; raw?: string } = {},
): Promise<Delivery> {
  const deliveryId = opts.deliveryId ?? randomUUID();
  const body = opts.raw ?? JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': opts.event ?? 'push',
    'x-github-delivery': deliveryId,
    'user-agent': 'GitHub-Hookshot/test',
  };
  const secret = opts.secret === undefined ? GLOBAL_SECRET : opts.secret;
  if (secret !== null) headers['x-hub-signature-256'] = sign(secret, body);
  const res = await fetch(`${baseUrl}/webhooks/github`, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed, deliveryId };
}

export interface Env {
  tdb: TestDb;
  accountId: string;
  /** Temporal client with the namespace's Vault Transit codec (as the api and workers have). */
  client: Client;
  connection: Connection;
  namespace: string;
  address: string;
  vault: h.VaultEndpoint;
  /** The data converter of every client and worker of the suite (Vault Transit codec). */
  dataConverter: DataConverter;
  /** Repository secrets at rest: the real Vault Transit secret box, as in api/main.ts. */
  secretBox: SecretBox;
  /** The suite's own control task queue, so suites sharing the Temporal server never take each other's work. */
  taskQueue: string;
  gitCacheDir: string;
  stop(): Promise<void>;
}

/** Database schema of its own, account, the namespace's Transit key, Temporal client with the Vault codec. */
export async function setupEnv(label: string): Promise<Env> {
  const since = new Date();
  const [t, vault, tdb] = await Promise.all([h.temporal(), h.vault(), createTestDb(label)]);
  await ensureNamespaceKey({ vaultAddr: vault.addr, vaultToken: vault.token, namespace: t.namespace });
  const keyring = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token });
  const codec = keyring.codec(t.namespace);
  const converter = dataConverter(codec)!;
  const account = await ensureAccount(tdb.db, 'default', t.namespace);
  AUTH.authorization = (await createPrincipal(tdb.db, { accountId: account.id, login: 'alice', role: 'admin' })).auth.authorization;
  const connection = await Connection.connect({ address: t.address });
  const client = new Client({ connection, namespace: t.namespace, dataConverter: converter });
  const gitCacheDir = mkdtempSync(join(h.testStateDir(), 'git-cache-'));
  const secretBox = new CachingSecretBox(new VaultTransitSecretBox({ addr: vault.addr, token: vault.token }));
  const taskQueue = `${CONTROL_TASK_QUEUE}-${tdb.schema}`;
  return {
    tdb, accountId: account.id, client, connection, namespace: t.namespace, address: t.address, vault,
    dataConverter: converter, secretBox, taskQueue, gitCacheDir,
    async stop() {
      // STACKLY_RECORD_HISTORIES=<dir>: the histories of the suite's closed workflows, decoded (test/replay/record.ts);
      // the run workflows here are stand-ins (stand-in-workflows.ts), so only the real push and queue workflows.
      await recordSuiteHistories({ client, codec, taskQueue, since, label, types: [WORKFLOWS.push, WORKFLOWS.stateQueue] });
      await connection.close();
      await tdb.drop();
    },
  };
}

export interface RunningApi {
  app: FastifyInstance;
  url: string;
}

/** `allowGlobalWebhookSecret`: the development setting (WEBHOOK_GLOBAL_SECRET_ALLOWED), only for tests that sign with GLOBAL_SECRET. */
export async function startApi(env: Env, opts: { client?: Client; secretBox?: SecretBox; bodyLimitBytes?: number; allowGlobalWebhookSecret?: boolean } = {}): Promise<RunningApi> {
  const app = await buildApi({
    db: env.tdb.db,
    logger: createLogger('api-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporal: fixedClients(opts.client ?? env.client),
    platformAccountId: env.accountId,
    webhookSecret: GLOBAL_SECRET,
    allowGlobalWebhookSecret: opts.allowGlobalWebhookSecret ?? false,
    secretBox: opts.secretBox ?? env.secretBox,
    bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
    temporalTimeoutMs: 3000,
    taskQueue: env.taskQueue,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/**
 * A control worker with pushWorkflow, the git and registry activities (clone credentials resolved
 * through the Vault secret box, as a control worker does), and the test stand-ins. `taskQueue`
 * defaults to the suite's own queue; an api process started from api/main.ts uses CONTROL_TASK_QUEUE.
 */
export async function startWorker(env: Env, opts: { taskQueue?: string } = {}): Promise<RunningWorker> {
  const nc = await NativeConnection.connect({ address: env.address });
  const logger = createLogger('worker-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const deps = {
    db: env.tdb.db, logger, gitCacheDir: env.gitCacheDir,
    credentialsFor: repositoryCredentialsResolver(env.tdb.db, env.secretBox),
  };
  const worker = await Worker.create({
    connection: nc,
    namespace: env.namespace,
    taskQueue: opts.taskQueue ?? env.taskQueue,
    workflowsPath: require.resolve('./stand-in-workflows'),
    activities: {
      ...createGitActivities(deps),
      ...createRegistryActivities(deps),
      ...createRunRequestActivities(),
    },
    dataConverter: env.dataConverter,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await nc.close();
    },
  };
}

/** Registers a repository through the REST API. */
export async function registerRepo(api: RunningApi, url: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
  const res = await fetch(`${api.url}/api/repositories`, {
    method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ url, tracked_branch: 'main', ...extra }),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`registering repository: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export async function getJson(api: RunningApi, path: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${api.url}${path}`, { headers: AUTH });
  return { status: res.status, body: await res.json() };
}

export async function postJson(api: RunningApi, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${api.url}${path}`, {
    method: 'POST', headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

export const STACK_HCL = (name: string, opts: { onDelete?: 'loose' | 'destroy'; states?: string[] } = {}) => `stack "${name}" {
  version     = "1.0.0"
  environment = "prod"
  on_delete   = "${opts.onDelete ?? 'loose'}"
  auto_deploy = false

  variables { region = "us-west-2" }

${(opts.states ?? ['prod', 'staging']).map((s) => `  state "${s}" {\n    variables { size = "${s}" }\n  }`).join('\n')}
}
`;

export const MAIN_TF = (tag: string) => `resource "terraform_data" "x" {\n  input = "${tag}"\n}\n`;
