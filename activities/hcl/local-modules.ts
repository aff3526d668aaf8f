/**
 * Which local module directories a stack reads: the `module` calls of the stack directory whose
 * `source` starts with `./` or `../`, then the calls of those modules, at any depth. Pure: the files
 * of a directory come from a callback (the git activities read them from a bare repository at a
 * commit; tests from a map), so change detection can follow modules without a checkout.
 *
 * Paths are repository-relative POSIX paths ("." is the repository root). A source is resolved
 * relative to the directory of the module holding the call and normalised. A source that resolves
 * outside the repository is not followed (reported in `escaping`: the analysis activity on workers
 * refuses it with its own error, see sources.ts). Module calls that come back to a directory already
 * on the chain are reported in `cycles` and not followed again. Each directory is read and parsed
 * once per call; with `cache`, a directory whose files are unchanged is never parsed twice.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { isLocalSource, parseHclFile, type ModuleFiles } from './parse-module';
import type { Json, JsonObject } from '../../workflows/model/json';

export interface ModuleSource {
  /** The module call's name (`module "vpc"` → `vpc`). */
  name: string;
  source: string;
  /** The file holding the call, as passed in (the git activities pass repository-relative paths). */
  file: string;
}

/** Files of directory `dir` (`.tf` / `.tf.json` file name → text), or undefined when there is no such directory. */
export type ReadModuleFiles = (dir: string) => Promise<ModuleFiles | undefined>;

/** Parse results by a digest of a directory's file names and contents. */
export type ModuleSourceCache = Map<string, Promise<ModuleSource[] | { error: string }>>;

export interface FindLocalModulesOptions {
  /** Longest chain of module calls followed from the stack directory (default 20). */
  maxDepth?: number;
  /** Parse results shared between calls (the caller bounds its size). */
  cache?: ModuleSourceCache;
}

export interface LocalModules {
  /**
   * Directories of the local modules read from the stack directory, at any depth, sorted, without the
   * stack directory itself. A directory that does not exist (or holds no `.tf` file) is listed too: a
   * call to it is a dependency on whatever appears there.
   */
  dirs: string[];
  /**
   * Why `dirs` may be incomplete: a directory whose files do not parse (`file:line: message`), a chain
   * of calls deeper than `maxDepth`. Change detection treats a stack with any as changed.
   */
  errors: string[];
  /** Module calls whose source resolves outside the repository: not followed. */
  escaping: Array<{ dir: string; name: string; source: string; file: string }>;
  /** Chains of module calls that come back to a directory on the chain (`a → b → a`). */
  cycles: string[][];
}

export const DEFAULT_MAX_MODULE_DEPTH = 20;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const blocksOf = (v: Json | undefined): JsonObject[] => (Array.isArray(v) ? v.filter(isObject) : isObject(v) ? [v] : []);
const isTfFile = (f: string): boolean => f.endsWith('.tf') || f.endsWith('.tf.json');
const isOverride = (f: string): boolean => /(^|_)override\.tf(\.json)?$/.test(f.split('/').pop()!);

/**
 * The module calls of one directory's files, parsed with the module parser's file reader
 * (`@cdktf/hcl2json` for `.tf`, JSON for `.tf.json`). As Terraform does, a `source` set in an
 * override file (`override.tf`, `*_override.tf`) replaces the one it overrides. Calls without a
 * literal string source are left out (the module parser reports them). Throws the parser's
 * HclError (`file:line: message`) on a file that does not parse.
 */
export async function moduleSources(files: ModuleFiles, filePrefix = ''): Promise<ModuleSource[]> {
  const names = Object.keys(files).filter(isTfFile).sort();
  const calls = new Map<string, ModuleSource>();
  for (const override of [false, true]) {
    for (const f of names.filter((n) => isOverride(n) === override)) {
      const file = filePrefix + f;
      const doc = await parseHclFile(file, files[f]!);
      const modules = doc.module;
      if (!isObject(modules)) continue;
      for (const [name, bs] of Object.entries(modules)) {
        for (const b of blocksOf(bs)) {
          if (typeof b.source !== 'string') continue;
          if (override && !calls.has(name)) continue; // overrides nothing: the module parser reports it
          calls.set(name, { name, source: b.source, file });
        }
      }
    }
  }
  return [...calls.values()];
}

/**
 * Where a local source called from `dir` points, repository-relative and normalised, or null when it
 * leaves the repository (or is absolute).
 */
export function resolveLocalSource(dir: string, source: string): string | null {
  if (posix.isAbsolute(source)) return null;
  const p = posix.normalize(posix.join(dir, source)).replace(/\/+$/, '') || '.';
  if (p === '..' || p.startsWith('../')) return null;
  return p;
}

function digest(files: ModuleFiles): string {
  const h = createHash('sha256');
  for (const n of Object.keys(files).filter(isTfFile).sort()) h.update(n).update('\0').update(files[n]!).update('\0');
  return h.digest('hex');
}

/** The local module directories `stackDir` reads, at any depth (see LocalModules). */
export async function findLocalModules(stackDir: string, read: ReadModuleFiles, opts: FindLocalModulesOptions = {}): Promise<LocalModules> {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_MODULE_DEPTH;
  const result: LocalModules = { dirs: [], errors: [], escaping: [], cycles: [] };
  const found = new Set<string>();
  const done = new Set<string>();
  const prefix = (d: string) => (d === '.' ? '' : `${d}/`);

  /** Module calls of `dir`; a read failure (I/O) rejects, a parse failure resolves to its error. */
  const sourcesOf = async (dir: string): Promise<ModuleSource[] | { error: string }> => {
    const files = await read(dir);
    if (!files || !Object.keys(files).some(isTfFile)) return [];
    const parse = () => moduleSources(files, prefix(dir)).catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));
    if (!opts.cache) return parse();
    // By content; the prefix is in the key because it is in the results' file names.
    const key = `${prefix(dir)}\0${digest(files)}`;
    let p = opts.cache.get(key);
    if (!p) {
      p = parse();
      opts.cache.set(key, p);
    }
    return p;
  };

  // Depth-first, with the chain of directories being visited, so a call back into the chain is a cycle.
  const visit = async (dir: string, chain: string[]): Promise<void> => {
    if (done.has(dir)) return;
    done.add(dir);
    const calls = await sourcesOf(dir);
    if (!Array.isArray(calls)) {
      result.errors.push(calls.error);
      return;
    }
    for (const c of calls) {
      if (!isLocalSource(c.source)) continue;
      const target = resolveLocalSource(dir, c.source);
      if (target === null) {
        result.escaping.push({ dir, name: c.name, source: c.source, file: c.file });
        continue;
      }
      const at = chain.indexOf(target);
      if (at >= 0) {
        result.cycles.push([...chain.slice(at), target]);
        continue;
      }
      // `target` is chain.length calls away from the stack directory.
      if (chain.length > maxDepth) {
        result.errors.push(`${c.file}: module "${c.name}": local modules nested deeper than ${maxDepth} levels (${[...chain, target].join(' → ')}); not followed`);
        continue;
      }
      found.add(target);
      await visit(target, [...chain, target]);
    }
  };
  await visit(stackDir, [stackDir]);
  result.dirs = [...found].sort();
  return result;
}
