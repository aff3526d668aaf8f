/**
 * The baseline of issue 18: the same unit graph run by hand, one root and one S3 state per unit,
 * driven by `make -j<parallelism>`. What a careful user scripts (and what Terragrunt run-all does):
 * per unit `tofu init`, `tofu plan -out`, `tofu show -json` of that plan, `tofu apply` of it, and
 * `tofu output` for its dependants, which read their inputs from it.
 *
 * Same tofu binary, same bucket (lock files on), same module and provisioner as the Stackly run;
 * the bucket's own keys in the environment (no per-unit credentials, no sandbox, no encryption).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Settings } from '../common/s3';

export interface BaselineGraph {
  /** Unit name → the units whose `id` output it reads (in order). */
  units: Array<{ name: string; deps: string[] }>;
  /** The module every unit calls (absolute path). */
  moduleDir: string;
  sleep: number;
}

/** One unit's root: the module call, its inputs as a variable, its `id` as an output, an S3 backend. */
function unitRoot(name: string, g: BaselineGraph): string {
  return [
    'terraform {\n  backend "s3" {}\n}',
    'variable "deps" {\n  type    = list(string)\n  default = []\n}',
    `module "u" {\n  source        = ${JSON.stringify(g.moduleDir)}\n  name          = ${JSON.stringify(name)}\n  sleep_seconds = ${g.sleep}\n  deps          = var.deps\n}`,
    'output "id" {\n  value = module.u.id\n}',
    '',
  ].join('\n\n');
}

/** The per-unit script: init, inputs from the upstreams' `tofu output`, plan -out, show -json, apply, output. */
const UNIT_SCRIPT = `#!/bin/sh
# unit.sh <unit> <upstream>...: one unit of the graph, as a careful user scripts it.
set -eu
unit=$1; shift
cd "$unit"
"$TOFU" init -input=false -no-color -backend-config=unit.s3.tfbackend >init.log
deps=""
for up in "$@"; do
  id=$(cat "../$up/id.txt")
  deps="$deps\${deps:+,}\\"$id\\""
done
printf '{"deps":[%s]}' "$deps" >inputs.tfvars.json
"$TOFU" plan -input=false -no-color -var-file=inputs.tfvars.json -out=unit.tfplan >plan.log
"$TOFU" show -json -no-color unit.tfplan >plan.json
"$TOFU" apply -input=false -no-color unit.tfplan >apply.log
"$TOFU" output -raw -no-color id >id.txt
`;

/** Writes the graph's roots, the unit script and the Makefile under `dir`; returns the `make` arguments. */
export function writeBaseline(dir: string, g: BaselineGraph, s3: S3Settings, keyPrefix: string, jobs: number): string[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'unit.sh'), UNIT_SCRIPT, { mode: 0o755 });
  writeFileSync(join(dir, 'tofu.rc'), 'disable_checkpoint = true\n');
  const rules: string[] = [];
  for (const u of g.units) {
    const root = join(dir, u.name);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'main.tf'), unitRoot(u.name, g));
    writeFileSync(join(root, 'unit.s3.tfbackend'), [
      `bucket = ${JSON.stringify(s3.bucket)}`, `key = ${JSON.stringify(`${keyPrefix}/${u.name}.tfstate`)}`, `region = ${JSON.stringify(s3.region)}`,
      `endpoints = { s3 = ${JSON.stringify(s3.endpoint)} }`, 'use_path_style = true', 'use_lockfile = true',
      'skip_credentials_validation = true', 'skip_requesting_account_id = true', 'skip_metadata_api_check = true', 'skip_region_validation = true', '',
    ].join('\n'));
    rules.push(`${u.name}/done: ${u.deps.map((d) => `${d}/done`).join(' ')}\n\t./unit.sh ${[u.name, ...u.deps].join(' ')}\n\ttouch $@\n`);
  }
  writeFileSync(join(dir, 'Makefile'), `all: ${g.units.map((u) => `${u.name}/done`).join(' ')}\n\n${rules.join('\n')}`);
  return ['-C', dir, `-j${jobs}`, '--no-print-directory', 'all'];
}

/** Runs `make` over a written baseline; the wall time of the whole graph. */
export function runBaseline(args: string[], tofu: string, s3: S3Settings, dir: string): Promise<number> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TOFU: tofu, TF_CLI_CONFIG_FILE: join(dir, 'tofu.rc'),
    TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  return new Promise((res, rej) => {
    const t0 = Date.now();
    const out: Buffer[] = [];
    const p = spawn('make', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => out.push(b));
    p.on('error', rej);
    p.on('close', (code) => (code === 0 ? res(Date.now() - t0) : rej(new Error(`make ${args.join(' ')}: exit ${code}\n${Buffer.concat(out).toString().slice(-3000)}`))));
  });
}
