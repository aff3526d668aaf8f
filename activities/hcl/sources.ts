/**
 * Local module sources must stay inside the repository, at every depth: the root's module calls and
 * the module calls inside local modules, after symlinks are resolved. tofu would otherwise read
 * whatever lies next to the checkout on a worker. Remote sources (registry, git, …) are not checked.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { isLocalSource, parseModuleFiles, readModuleDir } from './parse-module';
import { HclError, type ModuleStructure } from './types';

const inside = (root: string, p: string): boolean => {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

async function real(p: string): Promise<string | undefined> {
  try {
    return await realpath(p);
  } catch {
    return undefined; // a missing directory is tofu init's error to report, with its own message
  }
}

/**
 * Throws an {@link HclError} of kind `source` naming the module call (and the local module holding
 * it, when nested) whose source leaves `repoRoot`.
 */
export async function checkLocalSources(repoRoot: string, moduleDir: string, structure: ModuleStructure): Promise<void> {
  const root = (await real(repoRoot)) ?? resolve(repoRoot);
  const seen = new Set<string>();
  const walk = async (dir: string, st: ModuleStructure, where: string): Promise<void> => {
    for (const m of Object.values(st.modules)) {
      if (!isLocalSource(m.source)) continue;
      const abs = resolve(dir, m.source);
      const actual = (await real(abs)) ?? abs;
      if (!inside(root, abs) || !inside(root, actual)) {
        throw new HclError('source', `module "${m.name}"${where} (${m.file}): source "${m.source}" resolves outside the repository (${actual} is not under ${root})`,
          m.file, m.line, `module.${m.name}.source`);
      }
      if (seen.has(actual)) continue;
      seen.add(actual);
      let nested: ModuleStructure;
      try {
        nested = await parseModuleFiles(await readModuleDir(actual));
      } catch {
        continue; // a nested module that does not parse is tofu's to report, with file and line
      }
      await walk(actual, nested, ` in local module ${relative(root, actual) || '.'}`);
    }
  };
  await walk(resolve(moduleDir), structure, '');
}
