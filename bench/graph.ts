/**
 * Benchmark: generated root modules parsed into units (parse every file, build the call graph and
 * units, synthesize every unit root). Run: `npx tsx bench/graph.ts` (optionally sizes:
 * `npx tsx bench/graph.ts 1000:200 10000:2000` = module calls : files). Each size runs in its own
 * process so the peak memory (maxRSS) is its own. Prints figures; asserts nothing.
 *
 * Then the two chains of issue 18 at 1,000 / 2,000 / 4,000 / 8,000 nodes (`--chains` runs only
 * them, `--chain-sizes 1000,8000` picks sizes): a chain of root resources (each reads the one
 * before it) and a chain alternating module calls and root resources. For each: the analysis in
 * its own process (parse, units; wall and CPU time), and `stackly graph --json` end to end as a
 * user runs it (a new node process of the built CLI in dist/, or through tsx when dist/ is missing).
 */
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModuleDir } from '../activities/hcl/parse-module';
import { synthesize } from '../activities/hcl/synthesize';
import { buildUnits } from '../activities/hcl/units';

/** A root module with `modules` calls spread over `files` files, wired like real code. */
function generate(dir: string, modules: number, files: number): void {
  mkdirSync(join(dir, 'modules', 'svc'), { recursive: true });
  writeFileSync(join(dir, 'modules', 'svc', 'main.tf'), [
    'variable "name" {}', 'variable "deps" { default = [] }',
    'resource "terraform_data" "t" {\n  input = var.name\n}',
    'output "id" {\n  value = terraform_data.t.id\n}', 'output "name" {\n  value = var.name\n}', '',
  ].join('\n'));
  const perFile = Math.ceil(modules / files);
  // A few root resources and a data source feeding and reading modules, plus locals.
  writeFileSync(join(dir, 'root.tf'), [
    'variable "prefix" {\n  default = "b"\n}',
    'locals {\n  base = "${var.prefix}-${terraform_data.seed.output}"\n}',
    'resource "terraform_data" "seed" {\n  input = var.prefix\n}',
    'resource "terraform_data" "mid" {\n  input = module.m1.id\n}',
    'output "last" {\n  value = module.m' + (modules - 1) + '.id\n}', '',
  ].join('\n'));
  for (let f = 0; f < files; f++) {
    const parts: string[] = [];
    for (let k = 0; k < perFile; k++) {
      const i = f * perFile + k;
      if (i >= modules) break;
      const deps: string[] = [];
      if (i > 0) deps.push(`module.m${Math.floor(i / 2)}.id`);
      if (i > 2 && i % 3 === 0) deps.push(`module.m${i - 1}[*].name`);
      if (i === 5) deps.push('terraform_data.mid.id');
      parts.push([
        `module "m${i}" {`,
        '  source = "./modules/svc"',
        i % 10 === 0 ? '  count  = 1' : '',
        `  name   = "\${local.base}-${i}"`,
        `  deps   = [${deps.join(', ')}]`,
        '}',
      ].filter(Boolean).join('\n'));
    }
    writeFileSync(join(dir, `m${String(f).padStart(4, '0')}.tf`), `${parts.join('\n\n')}\n`);
  }
}

async function one(modules: number, files: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stackly-bench-'));
  try {
    generate(dir, modules, files);
    const ms = (a: bigint, b: bigint): string => (Number(b - a) / 1e6).toFixed(0).padStart(6);
    // Run twice: the first run in a process pays for V8 compiling hcl2json's WASM (a one-off per
    // worker process); the second shows the steady state of a long-lived worker.
    for (const label of ['cold', 'warm']) {
      const t0 = process.hrtime.bigint();
      const st = await parseModuleDir(dir);
      const t1 = process.hrtime.bigint();
      const { callGraph, units } = buildUnits(st);
      const t2 = process.hrtime.bigint();
      const syn = synthesize({ structure: st, callGraph, units, repoRoot: dir, stackRoot: dir, unitsDir: join(dir, '.units'), backend: { type: 's3', prefix: 'a/00000000-0000-4000-8000-000000000001/' } });
      const t3 = process.hrtime.bigint();
      const rssMb = (process.resourceUsage().maxRSS / 1024).toFixed(0);
      const heapMb = (process.memoryUsage().heapUsed / 1048576).toFixed(0);
      console.log(`${String(modules).padStart(6)} modules ${String(files).padStart(5)} files ${label} | parse ${ms(t0, t1)} ms | units ${ms(t1, t2)} ms | parse+units ${ms(t0, t2)} ms | synth ${ms(t2, t3)} ms | ${units.units.length} units, ${callGraph.edges.length} edges, ${syn.units.length} roots | peak RSS ${rssMb} MB, heap ${heapMb} MB`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type ChainKind = 'resources' | 'alternating';

/**
 * A chain of `n` nodes in one file: `resources` = root resources each reading the one before;
 * `alternating` = n/2 module calls and n/2 root resources, r0 → m0 → r1 → m1 → … (each reads the
 * one before it), so every module call is a unit of its own and so is every resource between two.
 */
function generateChain(dir: string, kind: ChainKind, n: number): void {
  mkdirSync(join(dir, 'modules', 'svc'), { recursive: true });
  writeFileSync(join(dir, 'modules', 'svc', 'main.tf'), 'variable "in" {}\nresource "terraform_data" "t" {\n  input = var.in\n}\noutput "id" {\n  value = terraform_data.t.id\n}\n');
  const parts: string[] = [];
  if (kind === 'resources') {
    for (let i = 0; i < n; i++) parts.push(`resource "terraform_data" "r${i}" {\n  input = ${i ? `terraform_data.r${i - 1}.id` : '"x"'}\n}`);
  } else {
    for (let i = 0; i < n / 2; i++) {
      parts.push(`resource "terraform_data" "r${i}" {\n  input = ${i ? `module.m${i - 1}.id` : '"x"'}\n}`);
      parts.push(`module "m${i}" {\n  source = "./modules/svc"\n  in     = terraform_data.r${i}.id\n}`);
    }
  }
  writeFileSync(join(dir, 'main.tf'), `${parts.join('\n\n')}\n`);
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

/** One chain in this process: cold (first parse pays hcl2json's WASM compile), then warm. */
async function oneChain(kind: ChainKind, n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stackly-bench-chain-'));
  try {
    generateChain(dir, kind, n);
    const parts: string[] = [];
    for (const label of ['cold', 'warm']) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const st = await parseModuleDir(dir);
      const t1 = performance.now();
      const { callGraph, units } = buildUnits(st);
      const t2 = performance.now();
      const cpu = cpuMs(process.cpuUsage(c0));
      parts.push(`${label} parse ${(t1 - t0).toFixed(0)} + units ${(t2 - t1).toFixed(0)} = ${(t2 - t0).toFixed(0)} ms (CPU ${cpu.toFixed(0)} ms)`);
      if (label === 'warm') parts.push(`${units.units.length} units, ${callGraph.edges.length} edges`);
    }
    console.log(`${kind.padEnd(11)} ${String(n).padStart(5)} | ${parts.join(' | ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `stackly graph --json <dir>` as a user runs it: wall time of the whole command. */
function cliGraph(kind: ChainKind, n: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'stackly-bench-cli-'));
  try {
    generateChain(dir, kind, n);
    const root = join(__dirname, '..');
    const built = join(root, 'dist', 'cli', 'index.js');
    const argv = existsSync(built) ? [built] : [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'cli', 'index.ts')];
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [...argv, 'graph', '--json', dir], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const ms = performance.now() - t0;
    if (r.status !== 0) return `failed (exit ${r.status}): ${r.stderr.trim().split('\n').pop()}`;
    const units = (JSON.parse(r.stdout) as { units: unknown[] }).units.length;
    return `${ms.toFixed(0)} ms (${existsSync(built) ? 'dist' : 'tsx'}, ${units} units)`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function forkOne(args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(__filename, args, { stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function chains(sizes: number[]): Promise<void> {
  console.log('\nchains (issue 18): analysis in its own process per size; then `stackly graph --json` end to end');
  for (const kind of ['resources', 'alternating'] as const) {
    for (const n of sizes) await forkOne(['--chain', kind, String(n)]);
    for (const n of sizes) console.log(`${kind.padEnd(11)} ${String(n).padStart(5)} | stackly graph --json: ${cliGraph(kind, n)}`);
  }
  const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
  console.log(`load average at the end: ${load}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const [mode, ...rest] = args;
  if (mode === '--one') {
    const [m, f] = rest[0]!.split(':').map(Number);
    await one(m!, f!);
    return;
  }
  if (mode === '--chain') {
    await oneChain(rest[0] as ChainKind, Number(rest[1]));
    return;
  }
  const at = args.indexOf('--chain-sizes');
  const chainSizes = at >= 0 ? args[at + 1]!.split(',').map(Number) : [1000, 2000, 4000, 8000];
  const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--chain-sizes');
  if (!args.includes('--chains')) {
    const sizes = positional.length ? positional : ['1000:200', '2000:400', '5000:1000', '10000:2000'];
    console.log(`node ${process.version}; each size in its own process`);
    for (const s of sizes) await forkOne(['--one', s]);
  }
  await chains(chainSizes);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
