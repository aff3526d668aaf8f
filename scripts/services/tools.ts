/** Finds the pinned server binaries through scripts/tools.sh (which uses PATH, the cache, or builds). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

export type ToolName = 'temporal' | 'vault' | 'minio' | 'tofu';
export type Tools = Record<ToolName, string>;

const run = promisify(execFile);
/** The repository root, from sources (scripts/services) or from the build (dist/scripts/services). */
export const REPO_ROOT = ((): string => {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return resolve(__dirname, '..', '..');
    dir = up;
  }
  return dir;
})();

/**
 * Paths of the requested binaries. STACKLY_<NAME>_BIN in the environment wins; otherwise the tool
 * script provides them (a cold build takes minutes; its progress goes to stderr when `verbose`).
 */
export async function resolveTools(names: ToolName[], verbose = false): Promise<Partial<Tools>> {
  const out: Partial<Tools> = {};
  const missing: ToolName[] = [];
  for (const n of names) {
    const fromEnv = process.env[`STACKLY_${n.toUpperCase()}_BIN`];
    if (fromEnv) out[n] = fromEnv;
    else missing.push(n);
  }
  if (missing.length === 0) return out;
  const script = resolve(REPO_ROOT, 'scripts', 'tools.sh');
  const child = run('bash', [script, ...missing], { maxBuffer: 64 * 1024 * 1024, timeout: 60 * 60 * 1000 });
  if (verbose) child.child.stderr?.pipe(process.stderr);
  let stdout: string;
  try {
    ({ stdout } = await child);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`providing ${missing.join(', ')} with scripts/tools.sh failed:\n${err.stderr ?? err.message}`);
  }
  for (const line of stdout.split('\n')) {
    const m = /^(temporal|vault|minio|tofu)=(.+)$/.exec(line.trim());
    if (m) out[m[1] as ToolName] = m[2];
  }
  for (const n of missing) if (!out[n]) throw new Error(`scripts/tools.sh printed no path for ${n}`);
  return out;
}
