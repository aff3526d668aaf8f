/**
 * The CLI installs and runs as `stackly`: the package is packed (`npm pack`), the tarball installed
 * into an empty directory with its dependencies (`npm install --no-save <tarball>`: the npm cache
 * first, the machine's registry for what it lacks), and the installed bin run through `npx` and as
 * an executable file (its `#!/usr/bin/env node` line). Measured on the 2-core machine: ~2 s to pack,
 * 27–45 s to install (358 MB of dependencies, Temporal's native bridge half of it), 1–3 s per run.
 *
 * The tarball holds the compiled `dist/` (package.json `files`). scripts/test compiles it before
 * mocha; run alone, this suite compiles it when a source is newer than its output.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { assertGolden, FIXTURES } from '../unit/hcl/golden';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
/** Folders tsc compiles into the package (tsconfig include, less the tests and benches it leaves out). */
const PACKAGED = ['api', 'codec-server', 'workflows', 'activities', 'workers', 'db', 'policies', 'common', 'cli', 'scripts'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** A source whose compiled file is missing or older than it, if any. */
function staleOutput(): string | undefined {
  for (const src of PACKAGED.flatMap((d) => sources(join(ROOT, d)))) {
    const out = join(ROOT, 'dist', relative(ROOT, src).replace(/\.ts$/, '.js'));
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) return relative(ROOT, src);
  }
  return undefined;
}

describe('the stackly package: packed, installed, run as `stackly`', function () {
  this.timeout(300_000);
  let dir: string;
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      timings[what] = Date.now() - t;
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stackly-package-'));
    const stale = staleOutput();
    if (stale) {
      // Emits even when another file fails to typecheck; what is tested is what it emitted.
      await timed('tsc', () => run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).catch((e: { stdout?: string }) => {
        process.stderr.write(`tsc (building dist/ because ${stale} is newer than its output) reported:\n${e.stdout ?? e}\n`);
      }));
    }
  });
  after(() => {
    process.stderr.write(`      timings (ms): ${JSON.stringify(timings)}\n`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the built bin starts with #!/usr/bin/env node and package.json names it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.deepEqual(pkg.bin, { stackly: 'dist/cli/index.js' });
    assert.match(readFileSync(join(ROOT, 'dist', 'cli', 'index.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  it('npm pack, npm install of the tarball, then `npx stackly --help` and `stackly graph <dir> --json`', async () => {
    // --ignore-scripts: prepack would compile dist/ again (before() made sure it is current).
    const { stdout: packed } = await timed('pack', () => run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }));
    const [info] = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string; mode: number }> }>;
    const paths = info!.files.map((f) => f.path);
    assert.ok(paths.includes('dist/cli/index.js'), 'the bin is in the tarball');
    assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.endsWith('.map')), 'no tests or source maps in the tarball');

    const app = join(dir, 'app');
    await run('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'stackly-package-test', private: true }));
    // The npm cache first, the registry only for what it lacks; no install scripts of dependencies (the CLI needs none).
    await timed('install', () => run('npm', [
      'install', '--no-save', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', join(dir, info!.filename),
    ], { cwd: app, maxBuffer: 16 * 1024 * 1024 }));
    const env = { PATH: `${join(app, 'node_modules', '.bin')}:${process.env.PATH}`, HOME: process.env.HOME ?? app };

    // npm_config_yes=false: the installed bin only, never a package of that name from the registry.
    const help = await timed('npx --help', () => run('npx', ['stackly', '--help'], { cwd: app, env: { ...env, npm_config_yes: 'false' } }));
    assert.match(help.stdout, /^Usage: stackly \[options\] \[command\]/);
    for (const command of ['graph', 'policy', 'run', 'state']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));

    // The bin as an executable file: the kernel reads its #! line.
    const bin = join(app, 'node_modules', '.bin', 'stackly');
    assert.ok(statSync(bin).mode & 0o111, 'the installed bin is executable');
    const graph = await timed('graph --json', () => run(bin, ['graph', join(FIXTURES, 'realistic'), '--json'], { cwd: app, env }));
    assertGolden('realistic/graph.json', graph.stdout);
  });
});
