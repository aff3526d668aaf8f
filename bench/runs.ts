/**
 * Run bench: a generated graph of `depth` layers × `width` module calls (default 5 × 6 = 30 units),
 * each unit one `terraform_data` whose `local-exec` provisioner sleeps `--sleep` seconds, each module
 * call of layer k reading the `id` output of two calls of layer k-1. The stack has
 * `parallelism = --parallelism` (default 6) and `auto_deploy = true`.
 *
 *   npx tsx bench/runs.ts [--depth 5] [--width 6] [--sleep 1] [--parallelism 6]
 *
 * Everything is real and runs as in production: Temporal (dev server), Postgres (DATABASE_URL, a fresh
 * schema), Vault (Transit codec of every payload and of plan files), MinIO (unit states with lock
 * files, saved plans, logs) and tofu; the api, the control worker and one execution worker are their
 * own processes (`api/main.ts`, `workers/main.ts` through tsx), configured through the environment
 * only. Servers are the test harness's (reuse running ones with STACKLY_TEST_* as in test/README.md).
 *
 * Measured, in this order, in the same process:
 *  1. warm-up: a one-unit stack run through the api (the worker's first activities pay one-off costs:
 *     git mirror, hcl2json's WASM compile); printed, not used;
 *  2. the bound: the same one-unit stack on a fresh state, alone on the workers. "One unit's
 *     plan+apply" is the span the workflow spends on that unit, from its history: from scheduling the
 *     unit's first activity (its `activity_started` event) to the completion of its last one (its
 *     `activity_completed` event), i.e. routing, plan, saved plan, apply and outputs. Bound = depth × that;
 *  3. the graph: `POST /api/states/:id/runs` → the last unit's applyUnit completed (from the run's
 *     history; the server and this process share the clock). Also the time until the run finished;
 *  4. the baseline (issue 18): the same graph as one root and one S3 state per unit in the same
 *     bucket, driven by `make -j<parallelism>` (per unit: init, plan -out, show -json, apply, output;
 *     inputs from the upstreams' outputs; ./make-baseline.ts);
 *  5. plain tofu: `tofu init` (shown apart), then `tofu plan -out` + `tofu apply` of the same root
 *     module with one state in the same MinIO bucket (S3 backend, lock file).
 * Then where the graph run's time went: per activity type (count, queue wait, run time), the per-unit
 * span, and the tofu steps inside plan and apply (from the section timestamps of the run logs in S3).
 * Prints figures; asserts only that every unit was applied.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { blobCipherFromKeyring, logKeyOf } from '../activities/terraform';
import { getObject } from '../activities/terraform/store';
import { waitForRunStarted } from '../activities/run-requests';
import { parseStackConfig } from '../activities/hcl/stack-config';
import { createVaultKeyring, ensureNamespaceKey } from '../common/codec';
import { dataConverter } from '../common/temporal';
import { stateKeyPrefix } from '../common/state-keys';
import { ensureAccount } from '../db/repos/accounts';
import { createPrincipal } from '../test/harness/principals';
import { freePort, s3Client, spawnService, waitFor, type ManagedProcess } from '../scripts/services';
import { progressQuery, type RunProgress } from '../workflows/definitions';
import { createTestDb } from '../test/harness/db';
import { makeRepo } from '../test/harness/stackly';
import * as h from '../test/harness/services';
import { runBaseline, writeBaseline } from './make-baseline';

const REPO_ROOT = resolve(__dirname, '..');
const EventType = proto.api.enums.v1.EventType;
type HistoryEvent = proto.api.history.v1.IHistoryEvent;

const say = (s: string) => process.stdout.write(`${s}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

// ---------------------------------------------------------------- the generated code

const MODULE = `variable "name" {
  type = string
}

variable "deps" {
  type    = list(string)
  default = []
}

variable "sleep_seconds" {
  type = number
}

resource "terraform_data" "unit" {
  input = { name = var.name, deps = var.deps }

  provisioner "local-exec" {
    command = "sleep \${var.sleep_seconds}"
  }
}

output "id" {
  value = terraform_data.unit.id
}
`;

const call = (k: number, i: number) => `l${k}_${i}`;

/** The root module: `depth` layers of `width` module calls; layer k reads two calls of layer k-1. */
function rootModule(depth: number, width: number, sleep: number): string {
  const parts: string[] = [];
  for (let k = 0; k < depth; k++) {
    for (let i = 0; i < width; i++) {
      const deps = k === 0 ? [] : [...new Set([i, (i + 1) % width])].map((j) => `module.${call(k - 1, j)}.id`);
      parts.push([
        `module "${call(k, i)}" {`,
        '  source        = "../../modules/unit"',
        `  name          = "${call(k, i)}"`,
        `  sleep_seconds = ${sleep}`,
        `  deps          = [${deps.join(', ')}]`,
        '}',
      ].join('\n'));
    }
  }
  parts.push(`output "last" {\n  value = [${Array.from({ length: width }, (_, i) => `module.${call(depth - 1, i)}.id`).join(', ')}]\n}`);
  return `${parts.join('\n\n')}\n`;
}

const stackHcl = (name: string, parallelism: number, states: string[]) => [
  `stack "${name}" {`,
  '  environment = "bench"',
  `  parallelism = ${parallelism}`,
  '  auto_deploy = true',
  '  requires {',
  '    features = ["terraform"]',
  '  }',
  ...states.map((s) => `  state "${s}" {}`),
  '}',
  '',
].join('\n');

// ---------------------------------------------------------------- history of a run

const ts = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

interface Act {
  type: string;
  input: unknown;
  scheduled: number;
  started?: number;
  closed?: number;
  ok: boolean;
  /** planApplyUnit: its plan fitted and it applied the unit. */
  applied?: boolean;
}

/** Every activity of a workflow run with its decoded input and its times (scheduled, started, closed). */
async function activitiesOf(client: Client, workflowId: string, decode: (p: Payload[]) => Promise<Payload[]>): Promise<Act[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byId = new Map<string, Act>();
  const acts: Act[] = [];
  for (const e of (history.events ?? []) as HistoryEvent[]) {
    const at = ts(e.eventTime);
    const id = String(e.eventId);
    switch (e.eventType) {
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const a = e.activityTaskScheduledEventAttributes!;
        const payloads = (a.input?.payloads ?? []) as Payload[];
        const decoded = payloads.length ? await decode(payloads) : [];
        const act: Act = { type: a.activityType?.name ?? '?', input: decoded[0] ? defaultPayloadConverter.fromPayload(decoded[0]) : undefined, scheduled: at, ok: false };
        byId.set(id, act);
        acts.push(act);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        byId.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId))!.started = at;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const a = byId.get(String(e.activityTaskCompletedEventAttributes!.scheduledEventId))!;
        a.closed = at;
        a.ok = true;
        if (a.type === 'planApplyUnit') {
          const out = (e.activityTaskCompletedEventAttributes!.result?.payloads ?? []) as Payload[];
          const [r] = out.length ? await decode(out) : [];
          a.applied = !!(r && (defaultPayloadConverter.fromPayload(r) as { applied?: unknown }).applied);
        }
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        byId.get(String(e.activityTaskFailedEventAttributes!.scheduledEventId))!.closed = at;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        byId.get(String(e.activityTaskTimedOutEventAttributes!.scheduledEventId))!.closed = at;
        break;
      default:
    }
  }
  return acts;
}

/** The activities that run tofu for one unit (planApplyUnit: plan and, when it fits, apply in one job). */
const TOFU_ACTIVITIES = new Set(['planUnit', 'applyUnit', 'planApplyUnit']);
const unitOf = (a: Act): string | undefined => {
  const i = a.input as { unit?: string; type?: string; payload?: { unit?: string } } | undefined;
  if (TOFU_ACTIVITIES.has(a.type)) return i?.unit;
  if (a.type === 'emitRunEvent') return i?.payload?.unit;
  return undefined;
};
/** The events an event activity wrote (emitRunEvents writes several). */
const eventsOf = (a: Act): Array<{ type?: string; payload?: { unit?: string } }> => (a.type === 'emitRunEvent' ? [a.input as { type?: string }] : a.type === 'emitRunEvents' ? (a.input as { events: [] }).events : []);

/** Per unit: from scheduling its first activity to the completion of its last one. */
function unitSpans(acts: Act[]): Map<string, { start: number; end: number }> {
  const spans = new Map<string, { start: number; end: number }>();
  for (const a of acts) {
    const u = unitOf(a);
    if (!u) continue;
    const s = spans.get(u) ?? { start: a.scheduled, end: a.closed ?? a.scheduled };
    s.start = Math.min(s.start, a.scheduled);
    s.end = Math.max(s.end, a.closed ?? a.scheduled);
    spans.set(u, s);
  }
  return spans;
}

// ---------------------------------------------------------------- run logs: tofu steps inside plan/apply

/** `=== <title> (<iso time>)` sections of a run log, each with its start and its duration until the next (the last one until `end`). */
function sections(log: string, end: number): Array<{ title: string; at: number; ms: number }> {
  const marks = [...log.matchAll(/^=== (.+?) \((\d{4}-\d\d-\d\dT[\d:.]+Z)\)$/gm)].map((m) => ({ title: m[1]!.split(' ')[0]!, at: Date.parse(m[2]!) }));
  return marks.map((m, i) => ({ ...m, ms: (marks[i + 1]?.at ?? end) - m.at }));
}

// ---------------------------------------------------------------- CPU accounting (Linux /proc)

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() || 100);

/** CPU ms of a process itself and of its reaped children (tofu, git, sleep for a worker), or undefined when gone. */
function cpuOfPid(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { self: (f[11]! + f[12]!) * TICK_MS, children: (f[13]! + f[14]!) * TICK_MS };
  } catch {
    return undefined;
  }
}

/** The machine's CPU ms: busy (everything but idle and iowait) and all, summed over cores. */
function machineCpu(): { busy: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (all - f[3]! - f[4]!) * TICK_MS, all: all * TICK_MS };
}

/** This process's direct children (the servers the harness started, the api and the workers), by pid. */
function childPids(): Map<number, string> {
  const out = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === process.pid) out.set(Number(d), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch { /* gone */ }
  }
  return out;
}

// ---------------------------------------------------------------- main

interface Procs { api: ManagedProcess; control: ManagedProcess; exec: ManagedProcess }

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      depth: { type: 'string', default: '5' },
      width: { type: 'string', default: '6' },
      sleep: { type: 'string', default: '1' },
      parallelism: { type: 'string', default: '6' },
      // A CPU profile of the execution worker (node --cpu-prof) written into this directory when it stops.
      'cpu-prof': { type: 'string' },
    },
  });
  const depth = Number(values.depth);
  const width = Number(values.width);
  const sleep = Number(values.sleep);
  const parallelism = Number(values.parallelism);
  for (const [k, v] of Object.entries({ depth, width, parallelism })) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
  if (!(sleep >= 0)) throw new Error('--sleep must be a number of seconds');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const loadAtStart = load();
  say(`node ${process.version}, ${cpus().length} CPUs, load average at start ${loadAtStart}`);
  say(`graph: ${depth} layers × ${width} units = ${depth * width} units, local-exec sleep ${sleep} s, parallelism ${parallelism}, auto_deploy`);

  const stops: Array<() => Promise<void>> = [];
  try {
    // -------- servers and the database
    const [t, vault, s3, tofu] = await Promise.all([h.temporal(), h.vault(), h.s3(), h.tofu()]);
    await ensureNamespaceKey({ vaultAddr: vault.addr, vaultToken: vault.token, namespace: t.namespace });
    const keyring = createVaultKeyring({ vaultAddr: vault.addr, vaultToken: vault.token });
    const codec = keyring.codec(t.namespace);
    const cipher = blobCipherFromKeyring(keyring, t.namespace);
    const tdb = await createTestDb('bench_runs');
    stops.push(() => tdb.drop());
    const db = tdb.db;
    // Its own account name: state keys (`<account>/<stack>/<state>/<unit>.tfstate`) never meet an earlier run's in a reused bucket.
    const accountName = `bench-${randomBytes(3).toString('hex')}`;
    const account = await ensureAccount(db, accountName, t.namespace);
    const apiKey = (await createPrincipal(db, { accountId: account.id, login: 'bench', role: 'operator' })).key;
    const dir = mkdtempSync(join(h.testStateDir(), 'bench-runs-'));

    // -------- the repository: the graph stack and a one-unit stack on the same module
    const repo = makeRepo(dir);
    mkdirSync(join(repo.work, 'modules', 'unit'), { recursive: true });
    writeFileSync(join(repo.work, 'modules', 'unit', 'main.tf'), MODULE);
    const stacks = { graph: 'stacks/graph', one: 'stacks/one' };
    mkdirSync(join(repo.work, stacks.graph), { recursive: true });
    mkdirSync(join(repo.work, stacks.one), { recursive: true });
    writeFileSync(join(repo.work, stacks.graph, 'main.tf'), rootModule(depth, width, sleep));
    writeFileSync(join(repo.work, stacks.graph, 'stack.hcl'), stackHcl('graph', parallelism, ['main']));
    writeFileSync(join(repo.work, stacks.one, 'main.tf'), rootModule(1, 1, sleep));
    writeFileSync(join(repo.work, stacks.one, 'stack.hcl'), stackHcl('one', parallelism, ['warmup', 'alone']));
    const commit = repo.commit('bench stacks');

    // Registered as a push would (same config JSON, one row per declared state).
    const stateIds: Record<string, string> = {};
    for (const [name, path] of Object.entries(stacks)) {
      const config = await parseStackConfig(readFileSync(join(repo.work, path, 'stack.hcl'), 'utf8'));
      const code = await db.insertInto('stack_codes').values({
        account_id: account.id, repo_url: repo.url, repo_path: path, name: config.name, current_commit: commit,
        config: JSON.stringify(config), status: 'active',
      }).returning('id').executeTakeFirstOrThrow();
      for (const st of config.states) {
        // A state's objects live under its id (`<account>/<state id>/`), as the registry keys them.
        const id = randomUUID();
        const row = await db.insertInto('stack_states').values({
          id, account_id: account.id, stack_code_id: code.id, name: st.name, commit_hash: '0'.repeat(40),
          tf_state_key: stateKeyPrefix(accountName, id), variables: JSON.stringify(st.variables), metadata: '{}', status: 'active',
        }).returning('id').executeTakeFirstOrThrow();
        stateIds[`${name}/${st.name}`] = row.id;
      }
    }

    // -------- api, control worker, execution worker: their own processes, configured by environment
    const dbUrl = new URL(tdb.url);
    dbUrl.searchParams.set('options', `-c search_path=${tdb.schema}`);
    const common = {
      LOG_LEVEL: 'warn', STACKLY_ACCOUNT: accountName, DATABASE_URL: dbUrl.toString(),
      TEMPORAL_ADDRESS: t.address, TEMPORAL_NAMESPACE: t.namespace, VAULT_ADDR: vault.addr, VAULT_TOKEN: vault.token,
      S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket, S3_REGION: s3.region, S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      TF_BINARY: tofu,
    };
    const apiPort = await freePort();
    const node = (name: string, entry: string, extra: Record<string, string>, flags: string[] = []): ManagedProcess => {
      const p = spawnService(name, process.execPath, [...flags, '--import', 'tsx', join(REPO_ROOT, entry)], {
        env: { ...common, ...extra }, logFile: join(dir, 'logs', `${name}.log`), cwd: REPO_ROOT,
      });
      stops.push(() => p.stop());
      return p;
    };
    const procs: Procs = {
      api: node('api', 'api/main.ts', { API_PORT: String(apiPort), GITHUB_WEBHOOK_SECRET: 'bench-webhook-secret-0123456789' }),
      control: node('worker-control', 'workers/main.ts', { WORKER_KIND: 'control', WORKER_ID: 'bench-control' }),
      // As many concurrent activities as the stack's parallelism (the worker's default is 4).
      exec: node('worker-exec', 'workers/main.ts', {
        WORKER_KIND: 'execution', WORKER_ID: 'bench-exec', WORKER_FEATURES: 'terraform',
        WORKER_MAX_CONCURRENT_ACTIVITIES: String(Math.max(parallelism, 4)), STACKLY_WORK_DIR: join(dir, 'work-exec'),
      }, values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`] : []),
    };
    const api = `http://127.0.0.1:${apiPort}`;
    await waitFor('api', async () => (await fetch(`${api}/healthz`)).ok, { timeoutMs: 120_000, proc: procs.api });
    for (const [id, proc] of [['bench-control', procs.control], ['bench-exec', procs.exec]] as const) {
      await waitFor(`worker ${id} registered`, async () => !!(await db.selectFrom('workers').select('id').where('id', '=', id).executeTakeFirst()), { timeoutMs: 180_000, proc, intervalMs: 500 });
    }
    const connection = await Connection.connect({ address: t.address });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: t.namespace, dataConverter: dataConverter(codec) });
    const decode = (p: Payload[]) => codec.decode(p);

    /** POST /api/states/:id/runs, then wait for the run's end; times in ms of this machine's clock. */
    const run = async (state: string): Promise<{ workflowId: string; requested: number; finished: number; progress: RunProgress; acts: Act[] }> => {
      const requested = Date.now();
      const res = await fetch(`${api}/api/states/${stateIds[state]}/runs`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
      const body = await res.json() as { workflow_id?: string; message?: string };
      if (res.status !== 202 || !body.workflow_id) throw new Error(`starting the run of ${state}: HTTP ${res.status} ${JSON.stringify(body)}`);
      // The state's queue starts the run a moment after the api accepted it.
      if (!(await waitForRunStarted(client, body.workflow_id, 60_000))) throw new Error(`run ${body.workflow_id} of ${state} was not started by its state's queue`);
      const handle = client.workflow.getHandle(body.workflow_id);
      await handle.result().catch(() => undefined);
      const finished = Date.now();
      const progress = await handle.query(progressQuery);
      const bad = Object.entries(progress.units).filter(([, u]) => u.status !== 'succeeded');
      if (progress.phase !== 'succeeded' || bad.length) {
        throw new Error(`run of ${state} ended ${progress.phase}: ${progress.error ?? ''} ${bad.map(([n, u]) => `${n}:${u.status}${u.reason ? ` (${u.reason})` : ''}`).join(' ')}`);
      }
      return { workflowId: body.workflow_id, requested, finished, progress, acts: await activitiesOf(client, body.workflow_id, decode) };
    };
    const onlySpan = (acts: Act[]) => [...unitSpans(acts).values()][0]!;

    // -------- 1. warm-up, 2. one unit alone
    say(`\nload average before the runs: ${load()}`);
    const warm = await run('one/warmup');
    const ws = onlySpan(warm.acts);
    say(`warm-up one-unit run (not used):   ${sec(warm.finished - warm.requested)} run, unit plan+apply ${sec(ws.end - ws.start)}`);
    const alone = await run('one/alone');
    const as = onlySpan(alone.acts);
    const unitMs = as.end - as.start;
    const bound = depth * unitMs;
    say(`one unit alone:                    ${sec(alone.finished - alone.requested)} run (api call → run finished), unit plan+apply ${sec(unitMs)}`);

    // -------- 3. the graph
    say(`load average before the graph run: ${load()}`);
    const names = childPids();
    for (const [n, p] of Object.entries(procs)) names.set(p.child.pid!, n === 'exec' ? 'execution worker (+ its tofu, git, sleep)' : n === 'control' ? 'control worker' : 'api');
    const cpu0 = new Map([...names.keys()].map((pid) => [pid, cpuOfPid(pid)]));
    const m0 = machineCpu();
    const g = await run('graph/main');
    const m1 = machineCpu();
    const cpuUse = [...names].map(([pid, name]) => {
      const a = cpu0.get(pid);
      const b = cpuOfPid(pid);
      return { name, ms: a && b ? b.self + b.children - a.self - a.children : NaN, children: a && b ? b.children - a.children : NaN };
    }).sort((x, y) => y.ms - x.ms);
    // The activity that applied each unit: planApplyUnit (its plan fitted), or applyUnit.
    const applies = g.acts.filter((a) => a.ok && (a.type === 'applyUnit' || (a.type === 'planApplyUnit' && a.applied)));
    if (applies.length !== depth * width) throw new Error(`expected ${depth * width} applied units, the history has ${applies.length}`);
    const allApplied = Math.max(...applies.map((a) => a.closed!));
    const wall = allApplied - g.requested;
    say(`load average after the graph run:  ${load()}`);

    // -------- 4. the make -j baseline: one root and one state per unit
    const baselineDir = join(dir, 'make');
    const baselineUnits = Array.from({ length: depth * width }, (_, n) => {
      const k = Math.floor(n / width);
      const i = n % width;
      return { name: call(k, i), deps: k === 0 ? [] : [...new Set([i, (i + 1) % width])].map((j) => call(k - 1, j)) };
    });
    const makeArgs = writeBaseline(baselineDir, { units: baselineUnits, moduleDir: join(repo.work, 'modules', 'unit'), sleep }, s3, `bench/make-${Date.now()}`, parallelism);
    say(`load average before the baseline:  ${load()}`);
    const b0 = cpuOfPid(process.pid)!;
    const baselineMs = await runBaseline(makeArgs, tofu, s3, baselineDir);
    // make and everything it ran are this process's reaped children.
    const baselineCpu = cpuOfPid(process.pid)!.children - b0.children;

    // -------- 5. plain tofu on one state
    const plainDir = join(dir, 'plain');
    cpSync(repo.work, plainDir, { recursive: true, filter: (src) => !src.includes('/.git') });
    const root = join(plainDir, stacks.graph);
    rmSync(join(root, 'stack.hcl'));
    writeFileSync(join(root, 'backend_override.tf'), 'terraform {\n  backend "s3" {}\n}\n');
    writeFileSync(join(root, 'plain.s3.tfbackend'), [
      `bucket = ${JSON.stringify(s3.bucket)}`, `key = "bench/plain-${Date.now()}/terraform.tfstate"`, `region = ${JSON.stringify(s3.region)}`,
      `endpoints = { s3 = ${JSON.stringify(s3.endpoint)} }`, 'use_path_style = true', 'use_lockfile = true',
      'skip_credentials_validation = true', 'skip_requesting_account_id = true', 'skip_metadata_api_check = true', 'skip_region_validation = true', '',
    ].join('\n'));
    writeFileSync(join(plainDir, 'tofu.rc'), 'disable_checkpoint = true\n');
    const tofuEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TF_CLI_CONFIG_FILE: join(plainDir, 'tofu.rc'),
      TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const tf = (args: string[]): Promise<number> => new Promise((res, rej) => {
      const t0 = Date.now();
      const out: Buffer[] = [];
      const p = spawn(tofu, [args[0]!, '-no-color', '-input=false', ...args.slice(1)], { cwd: root, env: tofuEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout.on('data', (b: Buffer) => out.push(b));
      p.stderr.on('data', (b: Buffer) => out.push(b));
      p.on('error', rej);
      p.on('close', (code) => (code === 0 ? res(Date.now() - t0) : rej(new Error(`tofu ${args[0]}: exit ${code}\n${Buffer.concat(out).toString().slice(-3000)}`))));
    });
    const initMs = await tf(['init', '-backend-config=plain.s3.tfbackend']);
    const planMs = await tf(['plan', '-out=plain.tfplan']);
    const applyMs = await tf(['apply', 'plain.tfplan']);
    const plain = planMs + applyMs;

    // -------- figures
    const r = (a: number, b: number) => (a / b).toFixed(2);
    say('\n==== figures');
    say(`wall time, POST /api/states/:id/runs → all ${depth * width} units applied: ${sec(wall)}   (→ run finished: ${sec(g.finished - g.requested)})`);
    say(`critical-path bound = depth ${depth} × one unit's plan+apply alone (${sec(unitMs)}) = ${sec(bound)}`);
    say(`baseline, make -j${parallelism} of per-unit tofu (init, plan -out, show -json, apply, output), same graph and bucket: ${sec(baselineMs)}   (CPU ${sec(baselineCpu)}; Stackly's processes: ${sec(cpuUse.reduce((a, c) => a + (Number.isFinite(c.ms) ? c.ms : 0), 0))})`);
    say(`plain tofu, one state, same root and S3 backend: plan ${sec(planMs)} + apply ${sec(applyMs)} = ${sec(plain)}   (init before them ${sec(initMs)}, not counted)`);
    say(`Stackly / baseline:   ${r(wall, baselineMs)}   (aim ≤ 1.0: ${wall <= baselineMs ? 'met' : 'NOT met'})`);
    say(`Stackly / bound:      ${r(wall, bound)}   (aim ≤ 1.3: ${wall <= 1.3 * bound ? 'met' : 'NOT met'})`);
    say(`Stackly / plain tofu: ${r(wall, plain)}   (stretch ≤ 2: ${wall <= 2 * plain ? 'met' : 'not met'})`);

    // -------- where the graph run's time went
    say('\n==== profile of the graph run');
    const spans = unitSpans(g.acts);
    const firstUnit = Math.min(...[...spans.values()].map((s) => s.start));
    say(`before the first unit (api → load, route, analyse, policies, review plan): ${sec(firstUnit - g.requested)}`);
    for (const a of g.acts.filter((x) => ['analyzeStack', 'loadRunPolicies', 'planReview', 'evaluateOutputs'].includes(x.type))) {
      say(`  ${a.type.padEnd(16)} queue ${sec((a.started ?? 0) - a.scheduled)}  run ${sec((a.closed ?? 0) - (a.started ?? 0))}`);
    }
    say(`after the last apply until the run finished: ${sec(g.finished - allApplied)}`);
    const layerOf = (u: string) => Number(/^l(\d+)_/.exec(u)?.[1] ?? -1);
    for (let k = 0; k < depth; k++) {
      const ss = [...spans.entries()].filter(([u]) => layerOf(u) === k).map(([, s]) => s);
      const avg = ss.reduce((x, s) => x + s.end - s.start, 0) / ss.length;
      say(`layer ${k}: first unit starts +${sec(Math.min(...ss.map((s) => s.start)) - g.requested)}, last unit done +${sec(Math.max(...ss.map((s) => s.end)) - g.requested)}, unit span mean ${sec(avg)}`);
    }
    // A unit's span, taken apart: its tofu activities (queue wait, run), its event activities, and the
    // rest (routing activities, workflow tasks between steps).
    const decompose = (acts: Act[]) => {
      const per = [...unitSpans(acts)].map(([u, sp]) => {
        const mine = acts.filter((a) => unitOf(a) === u && a.started && a.closed);
        const sum = (f: (a: Act) => boolean, g0: (a: Act) => number) => mine.filter(f).reduce((x, a) => x + g0(a), 0);
        const isTofu = (a: Act) => TOFU_ACTIVITIES.has(a.type);
        const tofuQueue = sum(isTofu, (a) => a.started! - a.scheduled);
        const tofuRun = sum(isTofu, (a) => a.closed! - a.started!);
        const events = sum((a) => a.type === 'emitRunEvent', (a) => a.closed! - a.scheduled);
        const span = sp.end - sp.start;
        return { span, tofuQueue, tofuRun, events, rest: span - tofuQueue - tofuRun - events };
      });
      const m = (k: keyof (typeof per)[number]) => per.reduce((x, p) => x + p[k], 0) / per.length;
      return `span ${m('span').toFixed(0)} = tofu activities run ${m('tofuRun').toFixed(0)} + their queue wait ${m('tofuQueue').toFixed(0)} + event activities waited for ${m('events').toFixed(0)} + routing and workflow tasks ${m('rest').toFixed(0)}`;
    };
    say(`a unit's span, mean ms: graph run: ${decompose(g.acts)}`);
    say(`                        alone:     ${decompose(alone.acts)}`);
    const windowMs = m1.all - m0.all;
    const ours = cpuUse.reduce((a, c) => a + (Number.isFinite(c.ms) ? c.ms : 0), 0);
    say(`CPU during the graph run (${sec(g.finished - g.requested)} × ${cpus().length} cores = ${sec(windowMs)} of CPU): machine busy ${sec(m1.busy - m0.busy)} (${(100 * (m1.busy - m0.busy) / windowMs).toFixed(0)} %); this bench's processes ${sec(ours)}, the rest (Postgres, other users' processes) ${sec(m1.busy - m0.busy - ours)}`);
    for (const c of cpuUse) say(`  ${c.name.padEnd(44)} ${sec(c.ms)}${c.children > 0 ? `   (children ${sec(c.children)})` : ''}`);
    say('per activity type (graph run | one unit alone): count, mean queue wait (scheduled → started), mean run time (started → completed)');
    const stats = (acts: Act[], type: string) => {
      const xs = acts.filter((a) => a.type === type && a.started && a.closed);
      const mean = (f: (a: Act) => number) => (xs.length ? xs.reduce((s, a) => s + f(a), 0) / xs.length : NaN);
      return `${String(xs.length).padStart(3)}  queue ${mean((a) => a.started! - a.scheduled).toFixed(0).padStart(5)} ms  run ${mean((a) => a.closed! - a.started!).toFixed(0).padStart(6)} ms`;
    };
    for (const type of [...new Set(g.acts.map((a) => a.type))]) say(`  ${type.padEnd(20)} ${stats(g.acts, type)}   | ${stats(alone.acts, type)}`);
    const written = g.acts.flatMap(eventsOf);
    const eventActs = g.acts.filter((a) => eventsOf(a).length).length;
    say(`  (events by type: ${[...new Set(written.map((e) => e.type))].map((t) => `${t} ${written.filter((e) => e.type === t).length}`).join(', ')}; ${written.length} in all, in ${eventActs} activities)`);

    // tofu steps inside the unit activities, from the run logs' section timestamps.
    const s3c = s3Client(s3);
    const stepTimes = async (r0: { workflowId: string; acts: Act[] }) => {
      const sum = new Map<string, { n: number; ms: number }>();
      for (const a of r0.acts.filter((x) => TOFU_ACTIVITIES.has(x.type) && x.ok)) {
        const unit = unitOf(a)!;
        // planApplyUnit's log is split in two: the plan's part and the apply's.
        const phases = a.type === 'planUnit' ? ['plan'] : a.type === 'applyUnit' ? ['apply'] : ['plan', 'apply'];
        const logs = await Promise.all(phases.map(async (phase) => {
          const sealed = await getObject(s3c, s3.bucket, logKeyOf(r0.workflowId, unit, phase));
          return sealed ? (await cipher.decrypt(sealed)).toString('utf8') : '';
        }));
        const secs = sections(logs.join(''), a.closed!);
        const add = (k: string, ms: number) => { const v = sum.get(k) ?? { n: 0, ms: 0 }; v.n++; v.ms += ms; sum.set(k, v); };
        if (secs[0]) add(`${a.type}: activity start → tofu init (materialize, analyse, synthesize)`, secs[0].at - a.started!);
        for (const s of secs) add(`${a.type}: ${s.title}${s === secs.at(-1) ? ' → activity completed' : ''}`, s.ms);
      }
      return sum;
    };
    const [gSteps, aSteps] = await Promise.all([stepTimes(g), stepTimes(alone)]);
    say('inside plan/apply activities, mean ms (graph run | one unit alone):');
    for (const [k, v] of gSteps) {
      const a = aSteps.get(k);
      say(`  ${k.padEnd(75)} ${(v.ms / v.n).toFixed(0).padStart(6)} | ${a ? (a.ms / a.n).toFixed(0).padStart(6) : '   n/a'}`);
    }
    say(`\nload average at the end: ${load()} (at start ${loadAtStart}); commit ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()} of this checkout`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e) => process.stderr.write(`stopping: ${String(e)}\n`));
    await h.stopAllServices();
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
