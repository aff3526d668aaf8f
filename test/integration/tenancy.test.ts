/**
 * Accounts kept apart (issue 19, part 6), on real Postgres, Temporal, Vault, MinIO and tofu: the api
 * process (api/main.ts), a control worker and an execution worker as processes (workers/main.ts),
 * and the codec server over the real Vault keyring with Stackly credentials checked in Postgres.
 *
 * A platform admin creates accounts A and B through the api (each gets its own Temporal namespace and
 * Transit key, and the workers start serving them without a restart); each account registers a
 * repository, a push registers its stack and starts a run, which plans on the execution worker and
 * waits for approval. Then: neither account's credential sees the other's repositories, stack codes,
 * states, operations, runs or events (404, or lists without them); B's run is in B's namespace and
 * not in A's; the codec server decodes B's payloads with B's key and refuses A's key (403 naming the
 * namespace).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildCodecServer } from '../../codec-server/server';
import { payloadsToJson } from '../../codec-server/payloads';
import { createVaultKeyring, ensureNamespaceKey, inspectPayload } from '../../common/codec';
import { credentialNamespaces } from '../../common/credentials';
import { ensureAccount } from '../../db/repos/accounts';
import { apiProcessEnv, startApiProcess, type ApiProcess } from '../harness/api-process';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal } from '../harness/principals';
import * as h from '../harness/services';
import { GitRepo, deliver, pushPayload } from './webhooks/helpers';

const ROOT = join(__dirname, '..', '..');
const WEBHOOK_SECRET = 'tenancy-webhook-secret-0123456789';

interface Tenant {
  name: string;
  namespace: string;
  key: string;
  auth: { authorization: string };
  repo: GitRepo;
  repositoryId: string;
  stateId: string;
  stackCodeId: string;
  runId: string;
  eventIds: string[];
  operationIds: string[];
}

/** A worker process (workers/main.ts under tsx), its log kept for failures. */
function startWorkerProcess(env: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string; stop(): Promise<void> } {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'workers/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (c: Buffer) => { log += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child, log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not in ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('tenancy: two accounts, each in its own namespace, never see each other', function () {
  this.timeout(600_000);
  let tdb: TestDb;
  let api: ApiProcess;
  let control: ReturnType<typeof startWorkerProcess>;
  let exec: ReturnType<typeof startWorkerProcess>;
  let connection: Connection;
  let codec: FastifyInstance;
  let codecUrl = '';
  let platformAuth: { authorization: string };
  const label = `t${randomBytes(3).toString('hex')}`;
  const tenants: Record<'a' | 'b', Tenant> = {} as Record<'a' | 'b', Tenant>;

  const call = async (t: { authorization: string }, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method, headers: { ...t, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
  };

  before(async () => {
    const [temporal, vault, s3, tofu] = await Promise.all([h.temporal(), h.vault(), h.s3(), h.tofu()]);
    tdb = await createTestDb('tenancy');
    await ensureNamespaceKey({ vaultAddr: vault.addr, vaultToken: vault.token, namespace: temporal.namespace });
    const platform = await ensureAccount(tdb.db, 'default', temporal.namespace);
    platformAuth = (await createPrincipal(tdb.db, { accountId: platform.id, login: 'root', role: 'admin' })).auth;
    api = await startApiProcess(apiProcessEnv({ db: tdb, temporal, vault, webhookSecret: WEBHOOK_SECRET }));
    const workerEnv = {
      PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info',
      DATABASE_URL: tdb.url, DATABASE_SCHEMA: tdb.schema,
      TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace,
      VAULT_ADDR: vault.addr, VAULT_TOKEN: vault.token,
      S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_BUCKET: s3.bucket, S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      TF_BINARY: tofu, WORKER_NAMESPACES_REFRESH_SECONDS: '1',
    };
    control = startWorkerProcess({ ...workerEnv, WORKER_KIND: 'control', WORKER_ID: `control-${label}` });
    exec = startWorkerProcess({
      ...workerEnv, WORKER_KIND: 'execution', WORKER_ID: `exec-${label}`, WORKER_LABELS: `suite=${label}`,
      STACKLY_WORK_DIR: join(h.testStateDir(), `work-${label}`),
    });
    connection = await Connection.connect({ address: temporal.address });
    const keyring = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token });
    codec = await buildCodecServer(
      { CODEC_AUTH_TOKENS: undefined, CODEC_CORS_ORIGINS: [], CODEC_BODY_LIMIT_BYTES: 4 * 1024 * 1024, CODEC_SESSION_TTL_SECONDS: 600 },
      { keyring, logger: pino({ level: 'silent' }), credentials: (token) => credentialNamespaces(tdb.db, token) },
    );
    codecUrl = await codec.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await codec?.close();
    await connection?.close();
    await control?.stop();
    await exec?.stop();
    await api?.stop();
    for (const t of Object.values(tenants)) t.repo?.cleanup();
    await tdb?.drop();
  });

  it('only a platform admin creates accounts; each gets its own namespace, Transit key and an admin key', async () => {
    // An admin of another account is refused, naming the platform account.
    const temporal = await h.temporal();
    for (const which of ['a', 'b'] as const) {
      const name = `${label}-${which}`;
      const r = await call(platformAuth, 'POST', '/api/accounts', { name });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.namespace, `${temporal.namespace}-${name}`);
      assert.equal(r.body.transit_key, `temporal-${temporal.namespace}-${name}`);
      assert.equal(r.body.status, 'ready');
      // The key made for the caller (root) acts in the new account, as root.
      const made = await call({ authorization: `Bearer ${r.body.api_key.key}` }, 'GET', '/api/me');
      assert.deepEqual([made.status, made.body.account.name, made.body.name, made.body.account.role], [200, name, 'root', 'admin']);
      // The account's own admin (a person of that account only), as root would add them; the rest of the suite acts as them.
      const key = (await createPrincipal(tdb.db, { accountId: r.body.id, login: `admin-of-${name}`, role: 'admin' })).key;
      tenants[which] = {
        name, namespace: r.body.namespace, key, auth: { authorization: `Bearer ${key}` }, repo: new GitRepo(`tenancy-${which}`),
        repositoryId: '', stateId: '', stackCodeId: '', runId: '', eventIds: [], operationIds: [],
      } as Tenant;
      // The namespace exists in Temporal, with Stackly's search attributes.
      const sa = await connection.operatorService.listSearchAttributes({ namespace: r.body.namespace });
      assert.ok('StacklyStatus' in (sa.customAttributes ?? {}));
    }
    const { a, b } = tenants;
    const again = await call(platformAuth, 'POST', '/api/accounts', { name: a.name });
    assert.equal(again.status, 409, again.text);
    const notPlatform = await call(a.auth, 'POST', '/api/accounts', { name: `${label}-c` });
    assert.equal(notPlatform.status, 403, notPlatform.text);
    assert.match(notPlatform.body.error.message, /platform account default/);
    const bad = await call(platformAuth, 'POST', '/api/accounts', { name: 'Not A Name' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^name:/);
    // Each account's key lists its own account only; the platform admin (a user) lists the accounts it made too.
    assert.deepEqual((await call(a.auth, 'GET', '/api/accounts')).body.items.map((x: { name: string }) => x.name), [a.name]);
    assert.deepEqual((await call(b.auth, 'GET', '/api/accounts')).body.items.map((x: { name: string }) => x.name), [b.name]);
    const mine = (await call(platformAuth, 'GET', '/api/accounts')).body.items.map((x: { name: string }) => x.name).sort();
    assert.deepEqual(mine, ['default', a.name, b.name].sort());
  });

  it('the workers serve the new namespaces without a restart', async () => {
    for (const t of Object.values(tenants)) {
      await until(`control worker serving ${t.namespace}`, async () => control.log().includes(`"namespace":"${t.namespace}","msg":"serving namespace"`), 60_000)
        .catch((e: Error) => { throw new Error(`${e.message}\n${control.log().slice(-3000)}`); });
      await until(`execution worker serving ${t.namespace}`, async () => exec.log().includes(`"namespace":"${t.namespace}","msg":"serving namespace"`), 60_000)
        .catch((e: Error) => { throw new Error(`${e.message}\n${exec.log().slice(-3000)}`); });
    }
  });

  it('each account registers a repository, pushes a stack and has a run that plans and waits for approval', async () => {
    for (const t of Object.values(tenants)) {
      const r = await call(t.auth, 'POST', '/api/repositories', { url: t.repo.url, tracked_branch: 'main', webhook_secret: `${t.name}-hook-secret-0123456789` });
      assert.equal(r.status, 201, r.text);
      t.repositoryId = r.body.id;
      t.repo.write({
        'stacks/net/stack.hcl': `stack "net" {
  environment = "dev"
  auto_deploy = false
  requires {
    features = ["terraform"]
    labels   = { suite = "${label}" }
  }
  state "prod" {}
}
`,
        'stacks/net/main.tf': `resource "terraform_data" "x" {\n  input = "${t.name}"\n}\n`,
      });
      t.repo.commit(`stack of ${t.name}`);
      const pushed = t.repo.push();
      const d = await deliver(api.url, pushPayload(t.repo, pushed), { secret: `${t.name}-hook-secret-0123456789` });
      assert.equal(d.status, 202, JSON.stringify(d.body));
      assert.equal(d.body.status, 'started');
    }
    for (const t of Object.values(tenants)) {
      const state = await until(`${t.name}: its state registered`, async () => {
        const s = await call(t.auth, 'GET', '/api/states');
        return s.body.items?.[0] as { id: string; stack_code_id: string } | undefined;
      });
      t.stateId = state.id;
      t.stackCodeId = state.stack_code_id;
      // The push asked for a run of the new state: it plans on the execution worker (in this namespace) and waits.
      const op = await until(`${t.name}: its run's operation`, async () => {
        const ops = await call(t.auth, 'GET', '/api/operations');
        return ops.body.items?.find((o: { workflow_id: string | null }) => o.workflow_id) as { id: string; workflow_id: string } | undefined;
      });
      t.runId = op.workflow_id;
      await until(`${t.name}: run ${t.runId} awaiting approval`, async () => {
        const run = await call(t.auth, 'GET', `/api/runs/${t.runId}`);
        if (run.status !== 200) return false;
        if (['failed', 'cancelled'].includes(run.body.progress.phase)) throw new Error(`run ended ${JSON.stringify(run.body.progress)}`);
        return run.body.progress.phase === 'awaiting_approval';
      }, 240_000).catch((e: Error) => { throw new Error(`${e.message}\ncontrol:\n${control.log().slice(-2000)}\nexec:\n${exec.log().slice(-2000)}`); });
      // A manual run too (queued behind the first).
      const manual = await call(t.auth, 'POST', `/api/states/${t.stateId}/runs`);
      assert.equal(manual.status, 202, manual.text);
      const ops = await call(t.auth, 'GET', '/api/operations');
      t.operationIds = ops.body.items.map((o: { id: string }) => o.id);
      const events = await call(t.auth, 'GET', '/api/events');
      t.eventIds = events.body.items.map((e: { id: string }) => e.id);
      assert.ok(t.eventIds.length > 0, 'its events are listed');
    }
  });

  it('neither account sees the other\'s repositories, stack codes, states, operations, runs or events', async () => {
    const { a, b } = tenants;
    for (const [me, other] of [[a, b], [b, a]] as const) {
      const lists: Array<[string, string[]]> = [
        ['/api/repositories', [other.repositoryId]], ['/api/stack-codes', [other.stackCodeId]], ['/api/states', [other.stateId]],
        ['/api/operations', other.operationIds], ['/api/events', other.eventIds],
      ];
      for (const [path, theirs] of lists) {
        const r = await call(me.auth, 'GET', path);
        assert.equal(r.status, 200);
        const ids = r.body.items.map((x: { id: string }) => x.id);
        assert.ok(ids.length > 0, `${me.name} sees its own ${path}`);
        for (const id of theirs) assert.ok(!ids.includes(id), `${me.name} does not see ${other.name}'s ${path} ${id}`);
        assert.ok(!r.text.includes(other.name), `nothing of ${other.name} in ${me.name}'s ${path}`);
      }
      const singles = [
        `/api/repositories/${other.repositoryId}`, `/api/stack-codes/${other.stackCodeId}`, `/api/states/${other.stateId}`,
        `/api/operations/${other.operationIds[0]}`, `/api/events/${other.eventIds[0]}`, `/api/runs/${other.runId}`,
      ];
      for (const path of singles) {
        const r = await call(me.auth, 'GET', path);
        assert.equal(r.status, 404, `${me.name} GET ${path}: ${r.text}`);
        assert.ok(!r.text.includes(other.name));
      }
      // Acting on the other's run or state: 404 as well, and nothing reaches Temporal.
      for (const [method, path] of [['POST', `/api/runs/${other.runId}/approve`], ['POST', `/api/runs/${other.runId}/cancel`], ['POST', `/api/states/${other.stateId}/runs`]] as const) {
        const r = await call(me.auth, method, path, method === 'POST' && path.endsWith('approve') ? {} : undefined);
        assert.equal(r.status, 404, `${me.name} ${method} ${path}: ${r.text}`);
      }
      // Naming the other account in the header is refused.
      const r = await fetch(`${api.url}/api/states`, { headers: { ...me.auth, 'x-stackly-account': other.name } });
      assert.equal(r.status, 403);
    }
  });

  it('one repository URL in two accounts: a delivery belongs to the account whose webhook secret signed it', async () => {
    const { a, b } = tenants;
    // B registers A's repository too, with a secret of its own.
    const r = await call(b.auth, 'POST', '/api/repositories', { url: a.repo.url, tracked_branch: 'main', webhook_secret: `${b.name}-second-secret-0123456789` });
    assert.equal(r.status, 201, r.text);
    const payload = { zen: 'Keep it logically awesome.', hook_id: 1, repository: { clone_url: a.repo.url, html_url: a.repo.url } };
    const toB = await deliver(api.url, payload, { event: 'ping', secret: `${b.name}-second-secret-0123456789` });
    const toA = await deliver(api.url, payload, { event: 'ping', secret: `${a.name}-hook-secret-0123456789` });
    assert.deepEqual([toB.status, toA.status], [200, 200]);
    const seen = async (t: Tenant, id: string) => call(t.auth, 'GET', `/webhooks/github/deliveries/${id}`);
    assert.equal((await seen(b, toB.deliveryId)).body.repository_id, r.body.id);
    assert.equal((await seen(a, toB.deliveryId)).status, 404);
    assert.equal((await seen(a, toA.deliveryId)).body.repository_id, a.repositoryId);
    assert.equal((await seen(b, toA.deliveryId)).status, 404);
    // Signed with neither account's secret (nor the global one, which neither relies on): refused.
    assert.equal((await deliver(api.url, payload, { event: 'ping', secret: 'some-other-secret-0123456789' })).status, 401);
  });

  it('a run of account B lives in namespace B, not in A\'s nor the platform\'s', async () => {
    const { a, b } = tenants;
    const temporal = await h.temporal();
    const inNs = (ns: string) => new Client({ connection, namespace: ns });
    // (Waiting for approval, or superseded by the manual run since: either way it is there.)
    const desc = await inNs(b.namespace).workflow.getHandle(b.runId).describe();
    assert.equal(desc.type, 'stackRunWorkflow');
    for (const ns of [a.namespace, temporal.namespace]) {
      await assert.rejects(inNs(ns).workflow.getHandle(b.runId).describe(), (e: unknown) => e instanceof WorkflowNotFoundError, `${b.runId} is not in ${ns}`);
    }
    // Its payloads are sealed with B's key: the input of B's run names B's state only in ciphertext.
    const history = await inNs(b.namespace).workflow.getHandle(b.runId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.ok(input);
    const sealed = inspectPayload(input);
    assert.equal(sealed.kind === 'sealed' ? sealed.keyName : sealed.kind, `temporal-${b.namespace}`);
    assert.ok(!Buffer.from(input.data!).toString('latin1').includes(b.stateId), 'the input is encrypted');
  });

  it('the codec server decodes B\'s payloads with B\'s key and refuses A\'s key, naming the namespace', async () => {
    const { a, b } = tenants;
    const history = await new Client({ connection, namespace: b.namespace }).workflow.getHandle(b.runId).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const body = JSON.stringify(payloadsToJson([input]));
    const decode = (t: Tenant, ns: string) => fetch(`${codecUrl}/decode`, { method: 'POST', headers: { ...t.auth, 'content-type': 'application/json', 'x-namespace': ns }, body });
    const refused = await decode(a, b.namespace);
    assert.equal(refused.status, 403);
    const msg = (await refused.json()) as { error: string; message: string };
    assert.equal(msg.error, 'forbidden');
    assert.match(msg.message, new RegExp(`namespace ${b.namespace}`));
    // A's key with A's namespace on B's payload: the key is B's, so A's namespace cannot open it either.
    assert.notEqual((await decode(a, a.namespace)).status, 200);
    const ok = await decode(b, b.namespace);
    assert.equal(ok.status, 200);
    const out = (await ok.json()) as { payloads: Array<{ data: string }> };
    assert.ok(Buffer.from(out.payloads[0]!.data, 'base64').toString().includes(b.stateId), 'B decodes its own run\'s input');
  });
});
