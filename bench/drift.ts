/**
 * Drift bench: how long a drift check of the 30-unit bench graph (bench/runs.ts's shape: `depth`
 * layers × `width` module calls, each reading two calls of the layer before) takes, against a plain
 * `tofu plan -detailed-exitcode` of the same root module with one state.
 *
 *   npx tsx bench/drift.ts [--depth 5] [--width 6] [--parallelism 6] [--checks 3]
 *
 * Real components, in this process as in the test suites (test/harness/stackly.ts): Temporal,
 * Postgres (a fresh schema), Vault (codec), MinIO, tofu; the api in process; one control and one
 * execution worker. The stack is pushed (a signed delivery), deployed (auto_deploy), then checked
 * `--checks` times through `POST /api/states/:id/drift` (the first check pays the worker's one-off
 * costs; shown apart). Each check's time is from the POST to its operation's end. Then the plain
 * tofu: the same root copied, `tofu init` + `tofu apply` (not timed), then `tofu plan
 * -detailed-exitcode` timed. Prints figures; asserts that the checks find no drift.
 */
import { fixedClients } from '../common/temporal';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { buildApi } from '../api/server';
import { waitForRunStarted } from '../activities/run-requests';
import { createLogger } from '../common/logger';
import { CachingSecretBox, VaultTransitSecretBox } from '../common/secret-box';
import { ensureAccount } from '../db/repos/accounts';
import { pushWorkflowId, type RunProgress } from '../workflows/definitions';
import type { DriftReport } from '../workflows/model/drift';
import type { PushResult } from '../workflows/push';
import { createPrincipal } from '../test/harness/principals';
import * as h from '../test/harness/services';
import { startStackly } from '../test/harness/stackly';
import { deliver, GitRepo, pushPayload } from '../test/integration/webhooks/helpers';

const say = (s: string) => process.stdout.write(`${s}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const MODULE = `variable "name" {
  type = string
}

variable "deps" {
  type    = list(string)
  default = []
}

resource "terraform_data" "unit" {
  input = { name = var.name, deps = var.deps }
}

output "id" {
  value = terraform_data.unit.id
}
`;

const call = (k: number, i: number) => `l${k}_${i}`;

function rootModule(depth: number, width: number): string {
  const parts: string[] = [];
  for (let k = 0; k < depth; k++) {
    for (let i = 0; i < width; i++) {
      const deps = k === 0 ? [] : [...new Set([i, (i + 1) % width])].map((j) => `module.${call(k - 1, j)}.id`);
      parts.push(`module "${call(k, i)}" {\n  source = "../../modules/unit"\n  name   = "${call(k, i)}"\n  deps   = [${deps.join(', ')}]\n}`);
    }
  }
  return `${parts.join('\n\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { depth: { type: 'string', default: '5' }, width: { type: 'string', default: '6' }, parallelism: { type: 'string', default: '6' }, checks: { type: 'string', default: '3' } } });
  const depth = Number(values.depth);
  const width = Number(values.width);
  const parallelism = Number(values.parallelism);
  const checks = Math.max(2, Number(values.checks));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  say(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  say(`graph: ${depth} × ${width} = ${depth * width} units, parallelism ${parallelism}`);

  const s = await startStackly('bench_drift');
  const label = s.t.schema;
  const secret = 'bench-drift-secret-0123456789';
  const repo = new GitRepo('bench-drift');
  const vault = await h.vault();
  const account = await ensureAccount(s.t.db, 'default', s.namespace);
  const auth = { authorization: (await createPrincipal(s.t.db, { accountId: account.id, login: 'bench', role: 'admin' })).auth.authorization };
  const api = await buildApi({
    db: s.t.db, logger: createLogger('api-bench', 'silent'), temporal: fixedClients(s.client), platformAccountId: account.id,
    webhookSecret: 'global-secret-not-used-here-0123', secretBox: new CachingSecretBox(new VaultTransitSecretBox({ addr: vault.addr, token: vault.token })),
    bodyLimitBytes: 1024 * 1024, temporalTimeoutMs: 10_000, taskQueue: s.taskQueue,
  });
  const url = await api.listen({ host: '127.0.0.1', port: 0 });
  try {
    await s.startExecWorker('exec-bench-drift', { suite: label });
    const reg = await fetch(`${url}/api/repositories`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: repo.url, tracked_branch: 'main', webhook_secret: secret }) });
    if (reg.status !== 201) throw new Error(`registering the repository: ${reg.status} ${await reg.text()}`);
    repo.write({
      'modules/unit/main.tf': MODULE,
      'stacks/graph/main.tf': rootModule(depth, width),
      'stacks/graph/stack.hcl': `stack "graph" {\n  parallelism = ${parallelism}\n  auto_deploy = true\n  requires {\n    features = ["terraform"]\n    labels   = { suite = "${label}" }\n  }\n  state "main" {}\n  drift {\n    schedule = "@yearly"\n  }\n}\n`,
    }).commit('graph');
    const { before, after } = repo.push('main');
    const d = await deliver(url, pushPayload(repo, { before, after }), { secret });
    if (d.status !== 202) throw new Error(`push: ${d.status}`);
    const p = (await s.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result()) as PushResult;
    const runId = p.runsStarted[0]!;
    await waitForRunStarted(s.client, runId, 30_000);
    const t0 = Date.now();
    const run = (await s.client.workflow.getHandle(runId).result()) as RunProgress;
    if (run.phase !== 'succeeded') throw new Error(`deploy ${run.phase}: ${run.error}`);
    say(`deploy of ${depth * width} units: ${sec(Date.now() - t0)}`);
    const state = await s.t.db.selectFrom('stack_states').select('id').where('stack_code_id', 'is not', null).executeTakeFirstOrThrow();

    const times: number[] = [];
    for (let i = 0; i < checks; i++) {
      const since = new Date();
      const start = Date.now();
      const r = await fetch(`${url}/api/states/${state.id}/drift`, { method: 'POST', headers: auth });
      if (r.status !== 202) throw new Error(`POST drift: ${r.status} ${await r.text()}`);
      for (;;) {
        const op = await s.t.db.selectFrom('operations').selectAll().where('stack_state_id', '=', state.id).where('type', '=', 'drift')
          .where('started_at', '>=', since).where('status', 'in', ['succeeded', 'failed']).executeTakeFirst();
        if (op) {
          const rep = (op.metadata as { drift: DriftReport }).drift;
          if (rep.outcome !== 'none') throw new Error(`check ${i + 1}: ${rep.outcome} ${rep.reason ?? JSON.stringify(rep.resources)}`);
          times.push(Date.now() - start);
          break;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      say(`drift check ${i + 1}${i === 0 ? ' (first: worker warm-up)' : ''}: ${sec(times[i]!)}`);
    }

    // Plain tofu of the same root, one state in the same bucket.
    const s3 = await h.s3();
    const tofu = await h.tofu();
    const plainDir = join(h.testStateDir(), `bench-drift-plain-${Date.now()}`);
    mkdirSync(plainDir, { recursive: true });
    cpSync(repo.work, plainDir, { recursive: true, filter: (src) => !src.includes('/.git') });
    const root = join(plainDir, 'stacks', 'graph');
    rmSync(join(root, 'stack.hcl'));
    writeFileSync(join(root, 'backend_override.tf'), 'terraform {\n  backend "s3" {}\n}\n');
    writeFileSync(join(root, 'plain.s3.tfbackend'), [
      `bucket = ${JSON.stringify(s3.bucket)}`, `key = "bench/drift-plain-${Date.now()}/terraform.tfstate"`, `region = ${JSON.stringify(s3.region)}`,
      `endpoints = { s3 = ${JSON.stringify(s3.endpoint)} }`, 'use_path_style = true', 'use_lockfile = true',
      'skip_credentials_validation = true', 'skip_requesting_account_id = true', 'skip_metadata_api_check = true', 'skip_region_validation = true', '',
    ].join('\n'));
    writeFileSync(join(plainDir, 'tofu.rc'), 'disable_checkpoint = true\n');
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TF_CLI_CONFIG_FILE: join(plainDir, 'tofu.rc'),
      TF_IN_AUTOMATION: '1', AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const tf = (args: string[], ok = [0]): Promise<number> => new Promise((res, rej) => {
      const t = Date.now();
      const out: Buffer[] = [];
      const c = spawn(tofu, [args[0]!, '-no-color', '-input=false', ...args.slice(1)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.stderr.on('data', (b: Buffer) => out.push(b));
      c.on('error', rej);
      c.on('close', (code) => (code !== null && ok.includes(code) ? res(Date.now() - t) : rej(new Error(`tofu ${args[0]}: exit ${code}\n${Buffer.concat(out).toString().slice(-2000)}`))));
    });
    await tf(['init', '-backend-config=plain.s3.tfbackend']);
    await tf(['apply', '-auto-approve']);
    const planMs = await tf(['plan', '-detailed-exitcode', '-refresh=true']);

    const warm = times.slice(1);
    const mean = warm.reduce((a, b) => a + b, 0) / warm.length;
    say('\n==== figures');
    say(`drift check of ${depth * width} units (POST → recorded), warm, mean of ${warm.length}: ${sec(mean)}   (first ${sec(times[0]!)})`);
    say(`plain tofu plan -detailed-exitcode of the same root, one state: ${sec(planMs)}`);
    say(`ratio: ${(mean / planMs).toFixed(2)}`);
  } finally {
    await api.close();
    await s.stop();
    repo.cleanup();
    await h.stopAllServices();
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
