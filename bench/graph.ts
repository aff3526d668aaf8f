/**
 * Benchmark: generated root modules parsed into units (parse every file, build the call graph and
 * units, synthesize every unit root). Run: `npx tsx bench/graph.ts` (optionally sizes:
 * `npx tsx bench/graph.ts 1000:200 10000:2000` = module calls : files). Each size runs in its own
 * process so the peak memory (maxRSS) is its own. Prints figures; asserts nothing.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === '--one') {
    const [m, f] = rest[0]!.split(':').map(Number);
    await one(m!, f!);
    return;
  }
  const sizes = (mode ? [mode, ...rest] : ['1000:200', '2000:400', '5000:1000', '10000:2000']);
  console.log(`node ${process.version}; each size in its own process`);
  for (const s of sizes) {
    await new Promise<void>((resolve, reject) => {
      const child = fork(__filename, ['--one', s], { stdio: 'inherit' });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`size ${s} exited with ${code}`))));
    });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
