/**
 * The synthesized unit roots, applied with real tofu one by one in the scheduler's order with
 * outputs passed on as inputs, give the same root outputs as `tofu apply` of the original root.
 *
 * Unit state lives in S3 (MinIO from the test harness) under the unit's own key; set
 * STACKLY_UNITS_LOCAL_BACKEND=1 to use local state files instead. The binary: TF_BINARY, else the
 * cached tofu build, else `tofu` on PATH, else `terraform`; none found is a failure, not a skip.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { analyzeStackDir } from '../../activities/hcl/analyze';
import { INPUTS_FILE, synthesize, typedInputsFile, type BackendChoice } from '../../activities/hcl/synthesize';
import type { UnitWiring } from '../../workflows/graph-types';
import { initialState, isFinished, nextState, readyUnits } from '../../workflows/scheduler';
import { s3 } from '../harness/services';

const run = promisify(execFile);
const FIXTURE = join(__dirname, '..', 'fixtures', 'graph', 'tofu-chain');

function onPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d && existsSync(join(d, name))) return join(d, name);
  return undefined;
}

function tfBinary(): string {
  if (process.env.TF_BINARY) return process.env.TF_BINARY;
  const cached = join(homedir(), '.cache', 'stackly', 'bin', 'tofu-1.12.6');
  const found = existsSync(cached) ? cached : onPath('tofu') ?? onPath('terraform');
  if (!found) throw new Error('no tofu or terraform binary: set TF_BINARY, build tofu with scripts/tools.sh tofu, or put tofu/terraform on PATH');
  return found;
}

interface OutputJson { [name: string]: { sensitive: boolean; type?: unknown; value: unknown } }

describe('units apply like the original root (real tofu)', function () {
  this.timeout(600_000);
  let work: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    bin = tfBinary();
    work = mkdtempSync(join(tmpdir(), 'stackly-units-'));
    const cliConfig = join(work, 'tofu.rc');
    writeFileSync(cliConfig, '');
    env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  });
  after(() => {
    if (work && process.env.KEEP_TEST_STATE !== '1') rmSync(work, { recursive: true, force: true });
  });

  const tf = async (cwd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> => {
    try {
      const { stdout } = await run(bin, args, { cwd, env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${bin} ${args.join(' ')} in ${cwd} failed:\n${err.stderr ?? ''}\n${err.stdout ?? ''}`);
    }
  };

  it('gives the same final outputs', async () => {
    const repo = join(work, 'repo');
    const stackDir = join(repo, 'stacks', 'chain');
    mkdirSync(stackDir, { recursive: true });
    cpSync(FIXTURE, stackDir, { recursive: true });
    const vars = { prefix: 'it' };

    // 1. The original root module, applied as a whole.
    const original = join(work, 'original');
    cpSync(stackDir, original, { recursive: true });
    writeFileSync(join(original, 'terraform.tfvars.json'), JSON.stringify(vars));
    await tf(original, ['init', '-no-color']);
    await tf(original, ['apply', '-auto-approve', '-no-color']);
    const expected = JSON.parse(await tf(original, ['output', '-json'])) as OutputJson;

    // 2. The unit roots, in the scheduler's order, outputs → inputs.
    const { structure, callGraph, units } = await analyzeStackDir(stackDir);
    assert.ok(units.units.some((u) => u.kind === 'modules'), 'the fixture has a merged module cycle');
    const unitsDir = join(work, 'units');
    let backend: BackendChoice;
    let backendArgs: string[] = [];
    let backendEnv: NodeJS.ProcessEnv = {};
    if (process.env.STACKLY_UNITS_LOCAL_BACKEND === '1') {
      backend = { type: 'local', dir: join(work, 'state') };
    } else {
      const s = await s3();
      backend = { type: 's3', prefix: `acct/${randomUUID()}/` };
      const cfg = join(work, 'backend.s3.tfbackend');
      writeFileSync(cfg, [
        `bucket = ${JSON.stringify(s.bucket)}`,
        `region = ${JSON.stringify(s.region)}`,
        `endpoints = { s3 = ${JSON.stringify(s.endpoint)} }`,
        'use_path_style = true',
        'use_lockfile = true',
        'skip_credentials_validation = true',
        'skip_requesting_account_id = true',
        'skip_metadata_api_check = true',
        'skip_region_validation = true',
        '',
      ].join('\n'));
      backendArgs = [`-backend-config=${cfg}`];
      backendEnv = { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey };
    }
    const syn = synthesize({ structure, callGraph, units, repoRoot: repo, stackRoot: stackDir, unitsDir, backend });
    const wiringOf = new Map<string, UnitWiring>(syn.wiring.units.map((w) => [w.unit, w]));
    const produced = new Map<string, OutputJson>();

    const applyRoot = async (dir: string, files: Record<string, string>, w: UnitWiring): Promise<OutputJson> => {
      mkdirSync(dir, { recursive: true });
      for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
      // Exact input types from the producers' outputs: a set stays a set (for_each needs it).
      if (w.inputs.length) writeFileSync(join(dir, INPUTS_FILE), typedInputsFile(w, Object.fromEntries(produced)));
      const values: Record<string, unknown> = {};
      for (const v of w.rootVariables) if (v in vars) values[v] = vars[v as keyof typeof vars];
      for (const i of w.inputs) {
        const out = produced.get(i.fromUnit)?.[i.output];
        assert.ok(out, `${w.unit} needs ${i.fromUnit}.${i.output}, which was not produced`);
        values[i.variable] = out.value;
      }
      writeFileSync(join(dir, 'stackly.auto.tfvars.json'), JSON.stringify(values, null, 2));
      await tf(dir, ['init', '-no-color', ...backendArgs], backendEnv);
      await tf(dir, ['apply', '-auto-approve', '-no-color'], backendEnv);
      return JSON.parse(await tf(dir, ['output', '-json'], backendEnv)) as OutputJson;
    };

    let state = initialState(units);
    const order: string[] = [];
    while (!isFinished(state)) {
      const [next] = readyUnits(units, state, 1);
      assert.ok(next, 'the scheduler always has a next unit until finished');
      state = nextState(state, { type: 'started', unit: next });
      const root = syn.units.find((u) => u.unit === next)!;
      produced.set(next, await applyRoot(join(unitsDir, root.dir), root.files, wiringOf.get(next)!));
      state = nextState(state, { type: 'succeeded', unit: next }, units);
      order.push(next);
    }
    assert.deepEqual(order, units.units.map((u) => u.name));
    const actual = await applyRoot(join(unitsDir, syn.outputs.dir), syn.outputs.files, syn.wiring.outputs);

    // 3. Same outputs, same sensitivity.
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
    for (const [name, o] of Object.entries(expected)) {
      assert.deepEqual(actual[name]!.value, o.value, `output ${name}`);
      assert.equal(actual[name]!.sensitive, o.sensitive, `output ${name} sensitivity`);
    }
    assert.equal(expected.secret!.sensitive, true);
  });
});
