/**
 * Loading the policy files of a repository checkout from disk. Uses the file system and hcl2json:
 * call it from activities or the CLI, never from workflow code.
 */
import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parsePolicyFiles, type SourceFile } from './parse';
import type { LoadedPolicies } from './resolve';

export { resolveStackPolicies, type LoadedPolicies, type ResolvedStackPolicies } from './resolve';
export { resolveStackHooks, type RunHooks } from './hooks';

/** The directory, relative to a repository root, that holds policy files. */
export const POLICY_DIR = 'policies';

/** Reads `<repoDir>/policies/*.hcl` (not recursive). A missing directory means no policies. */
export async function readPolicySources(repoDir: string): Promise<SourceFile[]> {
  const dir = path.join(repoDir, POLICY_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`reading policy directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const files: SourceFile[] = [];
  for (const name of names.filter((n) => n.endsWith('.hcl')).sort()) {
    const full = path.join(dir, name);
    try {
      files.push({ path: `${POLICY_DIR}/${name}`, text: await readFile(full, 'utf8') });
    } catch (err) {
      throw new Error(`reading policy file ${full}: ${(err as Error).message}`, { cause: err });
    }
  }
  return files;
}

/** Parses and validates every policy file of a checkout once. */
export async function loadPolicies(repoDir: string): Promise<LoadedPolicies> {
  return parsePolicyFiles(await readPolicySources(repoDir));
}
