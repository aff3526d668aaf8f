/**
 * Webhook bench: signed push deliveries at a sustained rate against the real api, Temporal and
 * Postgres and Vault, with a control worker running pushWorkflow (and a stand-in for the run workflow).
 * As in production, the api's Temporal client and the worker use the namespace's Vault Transit payload
 * codec, and the repository has its own webhook secret stored as Vault Transit ciphertext (decrypted
 * through the api's caching secret box, as api/main.ts does).
 *
 *   npx tsx bench/webhooks.ts [--duration 60] [--rate 20] [--drain 300] [--repos 20]
 *
 * Every delivery is a distinct commit of a real repository (made with `git fast-import`), changing
 * one stack with one state, so every delivery must end in exactly one push workflow and either one run
 * or "superseded".
 * Prints: deliveries/s accepted, latency from request to "workflow started" (the api answers 202 only
 * after Temporal accepted the start, so the 202 latency is that latency), the server-side figure
 * (workflow start time − request send time) for a sample, and the lost count: deliveries without a
 * started push workflow, or whose push workflow neither started the run of its commit nor reports the
 * stack superseded by a newer push handled first (see workflows/push.ts), and reported runs missing
 * from Temporal. Uses the harness's Temporal dev server and a fresh
 * Postgres schema (DATABASE_URL); reuse servers with STACKLY_TEST_TEMPORAL_ADDRESS and
 * STACKLY_TEST_VAULT_ADDR/STACKLY_TEST_VAULT_TOKEN. Also checked: the stack code ends at the last commit
 * (pushes handled out of order never move it back).
 */
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createGitActivities } from '../activities/git';
import { createRegistryActivities } from '../activities/registry';
import { createRunRequestActivities } from '../activities/run-requests';
import { buildApi } from '../api/server';
import { CachingSecretBox, VaultTransitSecretBox } from '../common/secret-box';
import { createVaultKeyring, ensureNamespaceKey } from '../common/codec';
import { createLogger } from '../common/logger';
import { dataConverter, fixedClients } from '../common/temporal';
import { createDb } from '../db';
import { ensureAccount } from '../db/repos/accounts';
import { CONTROL_TASK_QUEUE, pushWorkflowId } from '../workflows/definitions';
import type { PushResult } from '../workflows/push';
import { createTestDb } from '../test/harness/db';
import * as h from '../test/harness/services';

const ZERO = '0000000000000000000000000000000000000000';
const SECRET = 'bench-webhook-secret-0123456789';
/** The repository's own webhook secret (stored encrypted by Vault Transit). */
const REPO_SECRET = 'bench-repository-secret-0123456789';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

/** A bare repository with `n` commits, each changing stacks/bench/main.tf. Returns the commit hashes in order. */
function makeRepo(dir: string, n: number): string[] {
  const git = join(dir, 'origin.git');
  execFileSync('git', ['init', '--bare', '--quiet', '-b', 'main', git]);
  const parts: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  const stack = 'stack "bench" {\n  on_delete = "loose"\n  state "prod" {\n    variables { size = "s" }\n  }\n}\n';
  for (let i = 1; i <= n; i++) {
    parts.push(`commit refs/heads/main\nmark :${i}\ncommitter Bench <bench@example.com> ${1_700_000_000 + i} +0000\n${data(`bench ${i}`)}`);
    if (i > 1) parts.push(`from :${i - 1}\n`);
    if (i === 1) parts.push(`M 100644 inline stacks/bench/stack.hcl\n${data(stack)}`);
    parts.push(`M 100644 inline stacks/bench/main.tf\n${data(`resource "terraform_data" "x" { input = "${i}" }\n`)}`);
  }
  execFileSync('git', ['--git-dir', git, 'fast-import', '--quiet'], { input: parts.join(''), maxBuffer: 1 << 30 });
  return execFileSync('git', ['--git-dir', git, 'rev-list', '--reverse', 'main'], { encoding: 'utf8', maxBuffer: 1 << 30 }).trim().split('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: process.env.BENCH_DURATION_S ?? '60' },
      rate: { type: 'string', default: process.env.BENCH_RATE ?? '20' },
      drain: { type: 'string', default: process.env.BENCH_DRAIN_S ?? '300' },
      repos: { type: 'string', default: process.env.BENCH_REPOS ?? '20' },
    },
  });
  const durationS = Number(values.duration);
  const rate = Number(values.rate);
  const drainS = Number(values.drain);
  // Deliveries go round-robin to `repos` repositories (one stack each): 20/s over 20 repositories is
  // a busy organisation; `--repos 1` is the stress case of every push hitting one stack.
  const repos = Math.max(1, Math.floor(Number(values.repos)));
  const total = Math.round(durationS * rate);
  const perRepo = Math.ceil(total / repos);
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const dir = mkdtempSync(join(h.testStateDir(), 'bench-'));
  process.stdout.write(`preparing ${total} commits in ${repos} repositories…\n`);
  const repoCommits: string[][] = [];
  const repoUrls: string[] = [];
  for (let k = 0; k < repos; k++) {
    const rdir = join(dir, `r${k}`);
    mkdirSync(rdir, { recursive: true });
    repoCommits.push(makeRepo(rdir, perRepo));
    repoUrls.push(`file://${join(rdir, 'origin.git')}`);
  }

  const [t, vault] = await Promise.all([h.temporal(), h.vault()]);
  await ensureNamespaceKey({ vaultAddr: vault.addr, vaultToken: vault.token, namespace: t.namespace });
  const converter = dataConverter(createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token }).codec(t.namespace));
  const secretBox = new CachingSecretBox(new VaultTransitSecretBox({ addr: vault.addr, token: vault.token }));
  const tdb = await createTestDb('bench_webhooks');
  // The api and the worker share this process: give them a pool that is not the bottleneck.
  const db = createDb({ url: tdb.url, schema: tdb.schema, max: 30 });
  const account = await ensureAccount(tdb.db, 'default', t.namespace);
  const connection = await Connection.connect({ address: t.address });
  const client = new Client({ connection, namespace: t.namespace, dataConverter: converter });
  const logger = createLogger('bench', 'warn');
  const app = await buildApi({
    db, logger, temporal: fixedClients(client), platformAccountId: account.id, webhookSecret: SECRET, secretBox,
    bodyLimitBytes: 1024 * 1024,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const webhookSecretEnc = await secretBox.encrypt(REPO_SECRET);
  for (const url of repoUrls) {
    await db.insertInto('repositories').values({ account_id: account.id, url, tracked_branch: 'main', webhook_secret_enc: webhookSecretEnc, credentials_enc: null }).execute();
  }

  const nc = await NativeConnection.connect({ address: t.address });
  const worker = await Worker.create({
    connection: nc, namespace: t.namespace, taskQueue: CONTROL_TASK_QUEUE,
    workflowsPath: require.resolve('../test/integration/webhooks/stand-in-workflows'),
    activities: {
      ...createGitActivities({ db, logger, gitCacheDir: join(dir, 'cache') }),
      ...createRegistryActivities({ db, logger }),
      ...createRunRequestActivities(),
    },
    maxConcurrentActivityTaskExecutions: 50,
    maxConcurrentWorkflowTaskExecutions: 50,
    dataConverter: converter,
  });
  const workerRun = worker.run();

  const deliveryIds: string[] = [];
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const inflight: Promise<void>[] = [];
  process.stdout.write(`sending ${total} deliveries at ${rate}/s for ${durationS}s to ${base}\n`);
  const start = performance.now();
  const startWall = Date.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const deliveryId = randomUUID();
    deliveryIds.push(deliveryId);
    const k = i % repos;
    const j = Math.floor(i / repos);
    const commits = repoCommits[k]!;
    const repoUrl = repoUrls[k]!;
    const payload = JSON.stringify({
      ref: 'refs/heads/main', before: j === 0 ? ZERO : commits[j - 1], after: commits[j], created: j === 0, deleted: false, forced: false,
      head_commit: { id: commits[j], author: { name: 'Bench', email: 'bench@example.com', username: 'bench' }, added: [], removed: [], modified: ['stacks/bench/main.tf'] },
      commits: [], repository: { clone_url: repoUrl, html_url: repoUrl, full_name: 'bench/repo', default_branch: 'main' },
      pusher: { name: 'bench' }, sender: { login: 'bench' },
    });
    const signature = `sha256=${createHmac('sha256', REPO_SECRET).update(payload).digest('hex')}`;
    const t0 = performance.now();
    sentAt.set(deliveryId, Date.now());
    inflight.push(fetch(`${base}/webhooks/github`, {
      method: 'POST', body: payload,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': deliveryId, 'x-hub-signature-256': signature },
    }).then(async (res) => {
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) latencies.push(performance.now() - t0);
    }).catch(() => {
      statuses.set(0, (statuses.get(0) ?? 0) + 1);
    }));
  }
  await Promise.all(inflight);
  const sendS = (performance.now() - start) / 1000;
  const accepted = statuses.get(202) ?? 0;
  latencies.sort((a, b) => a - b);

  // Server side: when did Temporal record the start, relative to when the request was sent (sample).
  const sample = deliveryIds.filter((_, i) => i % Math.max(1, Math.floor(total / 200)) === 0);
  const serverLat: number[] = [];
  for (const id of sample) {
    const d = await client.workflow.getHandle(pushWorkflowId(id)).describe().catch(() => null);
    if (d) serverLat.push(d.startTime.getTime() - sentAt.get(id)!);
  }
  serverLat.sort((a, b) => a - b);

  process.stdout.write(`all sent in ${sendS.toFixed(1)}s; draining (up to ${drainS}s)…\n`);
  // Every delivery must end in a completed push workflow that either started the run of its commit or
  // reports the stack `superseded` (the registry already held a newer commit: the push was handled
  // after a newer one, and deploying the older commit would move the state back). Anything else is lost.
  const drainStart = Date.now();
  const drainDeadline = drainStart + drainS * 1000;
  const outcome = new Map<string, 'run' | 'superseded' | 'other' | 'failed' | 'missing' | 'timeout'>();
  const runIds: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < deliveryIds.length) {
      const id = deliveryIds[next++]!;
      const handle = client.workflow.getHandle(pushWorkflowId(id));
      if (!(await handle.describe().then(() => true, () => false))) { outcome.set(id, 'missing'); continue; }
      const left = drainDeadline - Date.now();
      const r = await Promise.race([
        handle.result().then((v) => v as PushResult, () => 'failed' as const),
        new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), Math.max(0, left)).unref()),
      ]);
      if (r === 'failed' || r === 'timeout') { outcome.set(id, r); continue; }
      if (r.runsStarted.length > 0) { outcome.set(id, 'run'); runIds.push(...r.runsStarted); }
      else outcome.set(id, r.superseded.includes('stacks/bench') ? 'superseded' : 'other');
    }
  }));
  const drainedS = (Date.now() - drainStart) / 1000;
  // Count the runs against the deliveries: each run a push reported must exist in Temporal.
  const runsExisting = (await Promise.all([...new Set(runIds)].map((w) => client.workflow.getHandle(w).describe().then(() => 1, () => 0))))
    .reduce<number>((a, b) => a + b, 0);
  const counts = { run: 0, superseded: 0, other: 0, failed: 0, missing: 0, timeout: 0 };
  for (const o of outcome.values()) counts[o]++;
  const pushStarted = total - counts.missing;
  const pushesDone = counts.run + counts.superseded + counts.other;
  const codeRows = await db.selectFrom('stack_codes').select(['repo_url', 'current_commit']).where('status', '<>', 'deregistered').execute();
  const lastOf = new Map(repoUrls.map((u, k) => [u, repoCommits[k]![Math.floor((total - 1 - k) / repos)]]));
  const atLast = repoUrls.filter((u) => codeRows.some((r) => r.repo_url === u && r.current_commit === lastOf.get(u))).length;
  const deliveryRows = await db.selectFrom('webhook_deliveries').select((eb) => ['status', eb.fn.countAll<string>().as('n')]).groupBy('status').execute();

  const report = {
    duration_s: durationS,
    target_rate_per_s: rate,
    repositories: repos,
    deliveries_sent: total,
    http_status_counts: Object.fromEntries(statuses),
    accepted_per_s: Number((accepted / sendS).toFixed(1)),
    latency_request_to_workflow_started_ms: { p50: Number(fmt(percentile(latencies, 50))), p99: Number(fmt(percentile(latencies, 99))), max: Number(fmt(latencies.at(-1) ?? NaN)) },
    server_side_start_minus_send_ms_sample: { n: serverLat.length, p50: Number(fmt(percentile(serverLat, 50))), p99: Number(fmt(percentile(serverLat, 99))) },
    push_workflows_started: pushStarted,
    push_workflows_completed: pushesDone,
    outcomes: counts,
    runs_reported: runIds.length,
    runs_existing_in_temporal: runsExisting,
    drain_s: Number(drainedS.toFixed(1)),
    delivery_rows: Object.fromEntries(deliveryRows.map((r) => [r.status, Number(r.n)])),
    lost: { push_workflows: total - pushStarted, deliveries_unaccounted: total - counts.run - counts.superseded, runs: runIds.length - runsExisting },
    stack_codes_at_their_last_commit: `${atLast} of ${repos}`,
    started_at: new Date(startWall).toISOString(),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  // Where a push workflow's time goes: per activity type, the mean queue wait and run time over the
  // completed push workflows of a sample (from their histories).
  const per = new Map<string, { n: number; queue: number; run: number }>();
  for (const id of sample.slice(0, 100)) {
    const h = await client.workflow.getHandle(pushWorkflowId(id)).fetchHistory().catch(() => undefined);
    const sched = new Map<string, { type: string; at: number; started?: number }>();
    const t = (x: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(x?.seconds ?? 0) * 1000 + (x?.nanos ?? 0) / 1e6;
    for (const e of h?.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) sched.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at: t(e.eventTime) });
      else if (e.activityTaskStartedEventAttributes) { const x = sched.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)); if (x) x.started = t(e.eventTime); }
      else if (e.activityTaskCompletedEventAttributes) {
        const x = sched.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
        if (!x?.started) continue;
        const v = per.get(x.type) ?? { n: 0, queue: 0, run: 0 };
        v.n++; v.queue += x.started - x.at; v.run += t(e.eventTime) - x.started;
        per.set(x.type, v);
      }
    }
  }
  process.stdout.write(`push workflow activities (sample of completed ones): ${[...per].map(([k, v]) => `${k} ×${v.n} queue ${(v.queue / v.n).toFixed(0)} ms run ${(v.run / v.n).toFixed(0)} ms`).join('; ')}\n`);
  if (report.lost.deliveries_unaccounted > 0) {
    // Say why: the first push workflow that has not completed, with its pending activities' last failure.
    for (const id of deliveryIds) {
      const d = await client.workflow.getHandle(pushWorkflowId(id)).describe().catch(() => null);
      if (!d || d.status.name === 'COMPLETED') continue;
      const raw = d.raw.pendingActivities ?? [];
      process.stdout.write(`example unfinished ${pushWorkflowId(id)}: ${d.status.name}; pending: ${JSON.stringify(raw.map((a) => ({ type: a.activityType?.name, attempt: a.attempt, failure: a.lastFailure?.message })))}\n`);
      break;
    }
  }

  worker.shutdown();
  await workerRun;
  await nc.close();
  await app.close();
  await connection.close();
  await db.destroy();
  await tdb.drop();
  await h.stopAllServices();
  rmSync(dir, { recursive: true, force: true });
  const ok = report.lost.push_workflows === 0 && report.lost.deliveries_unaccounted === 0 && report.lost.runs === 0 && atLast === repos;
  process.exit(ok ? 0 : 1);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
