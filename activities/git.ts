/**
 * Git activities of the push pipeline: a bare-repository cache per repository URL, fetches, the
 * analysis of a push against the registry (stack directories, ancestry and reachability from the
 * branch head, change detection that follows local modules), and filling the git_cache table.
 * Factory over injected dependencies; no process.env here. Files are read straight from the bare
 * repository (`git ls-tree` + `git cat-file --batch`), never from a checkout.
 *
 * Credentials never reach argv or logs: they travel to git through GIT_CONFIG_* environment variables
 * (an `http.extraHeader`), which only the child process sees.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db';
import { putFiles } from '../db/repos/git-cache';
import type { Logger } from '../common/logger';
import { execInHelper } from '../common/spawner';
import { findLocalModules, type LocalModules, type ModuleSourceCache, type ReadModuleFiles } from './hcl/local-modules';
import type { ModuleFiles } from './hcl/parse-module';
import { validateStackConfig, type StackConfigResult } from './stack-config-adapter';

/** Clone credentials for private repositories (HTTPS). */
export type GitCredentials = { token: string; username?: string } | { username: string; password: string };

export interface GitActivityDeps {
  db: Db;
  logger: Logger;
  /** Directory holding one bare repository per repository URL. */
  gitCacheDir: string;
  /** Decrypted credentials of a registered repository, or null for public/local repositories. */
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  /** Files bigger than this are not put in git_cache (workers fetch them from git). */
  maxCachedFileBytes?: number;
}

export const ZERO_COMMIT = '0000000000000000000000000000000000000000';
export const POLICIES_DIR = 'policies';
export const STACK_FILE = 'stack.hcl';

export interface FetchInput extends RepoRef {
  /** Commits that must be present afterwards (the pushed `after`). */
  commits: string[];
}

/** Which repository, and how to fetch it when a commit is missing from this worker's cache. */
export interface RepoRef {
  repositoryId: string | null;
  repoUrl: string;
  branch: string;
}

/** A stack directory the registry knows, with the newest commit the registry has seen for it. */
export interface KnownStack {
  repoPath: string;
  /** current_commit, or the commit that made it invalid / de-registered it. */
  latestCommit: string;
}

export interface AnalyseInput extends RepoRef {
  before: string | null;
  after: string;
  known?: KnownStack[];
}

/**
 * How a known stack's latest commit L relates to the pushed commit A: `same` (L = A), `behind` (L is
 * an ancestor of A: A is newer), `ahead` (A is a strict ancestor of L *and L is still on the tracked
 * branch*: this push is older than what the registry has, e.g. deliveries handled out of order),
 * `diverged` (neither; or L is newer than A but no longer reachable from the branch head, i.e. it
 * was force-pushed away: the tree at A wins), `unknown` (L cannot be fetched any more).
 */
export type CommitRelation = 'same' | 'behind' | 'ahead' | 'diverged' | 'unknown';

export interface KnownStackAnalysis {
  relation: CommitRelation;
  /**
   * Something differs between L and A under the stack directory, under policies/, or under a local
   * module directory the stack reads at A or at L (at any depth). True when unknown: L missing, or
   * a module file that does not parse, or module calls nested too deep.
   */
  touched: boolean;
}

export interface PushAnalysis {
  /** Directories holding a stack.hcl at `after` ("." for the repository root). */
  stackDirs: string[];
  /** Whether `before` is an ancestor of `after`; null when `before` is unknown. */
  beforeIsAncestor: boolean | null;
  /**
   * Whether `after` is reachable from the tracked branch's head as fetched during this analysis
   * (true when it is the head). False: the push was overtaken by a force push that dropped `after`
   * (or the branch is gone), so registering its commit would put commits that are not on the branch
   * into the registry.
   */
  afterOnBranch: boolean;
  /** Per known stack directory (KnownStack.repoPath). */
  known: Record<string, KnownStackAnalysis>;
}

class GitError extends Error {
  constructor(message: string, readonly code: number | null, readonly stderr: string) {
    super(message);
  }
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
/** Module parse results kept per worker process (by content), across pushes. */
const MODULE_PARSE_CACHE_ENTRIES = 2000;

/** One entry of `git ls-tree -r`. */
interface TreeEntry { mode: string; type: string; sha: string; size: number | null; path: string }

const parentDir = (path: string): string => {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
};
/** The value of `key` in `map`, made by `make` on first use. */
function memo<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  if (!map.has(key)) map.set(key, make());
  return map.get(key)!;
}

function assertCommit(c: string, what: string): void {
  if (!COMMIT_RE.test(c)) throw ApplicationFailure.nonRetryable(`${what} is not a commit hash: ${JSON.stringify(c)}`, 'InvalidInput');
}

function credentialEnv(c: GitCredentials | null): Record<string, string> {
  if (!c) return {};
  const basic = 'token' in c
    ? Buffer.from(`${c.username ?? 'x-access-token'}:${c.token}`).toString('base64')
    : Buffer.from(`${c.username}:${c.password}`).toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
}

/** Runs git; rejects with GitError carrying the exit code. */
async function git(args: string[], opts: { cwd?: string; env?: Record<string, string>; maxBuffer?: number } = {}): Promise<Buffer> {
  // Through the helper process: a fork from this (large) worker process would block its event loop.
  const r = await execInHelper('git', args, {
    cwd: opts.cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...opts.env },
    maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
  });
  if (r.code === 0 && !r.error) return r.stdout;
  const se = r.stderr.toString('utf8').trim();
  throw new GitError(`git ${args[0]}: ${se || r.error || `exit ${r.code}`}`, r.code, se);
}

/** Reads many blobs with one `git cat-file --batch`. */
async function catBlobs(cwd: string, shas: string[]): Promise<Map<string, Buffer>> {
  const r = await execInHelper('git', ['cat-file', '--batch'], {
    cwd, env: { ...process.env, LC_ALL: 'C' }, input: Buffer.from(shas.join('\n') + '\n'), maxBuffer: 512 * 1024 * 1024,
  });
  if (r.code !== 0 || r.error) throw new GitError(`git cat-file: ${r.stderr.toString().trim() || r.error}`, r.code, r.stderr.toString());
  const out = r.stdout;
  const result = new Map<string, Buffer>();
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(0x0a, pos);
    const header = out.subarray(pos, nl).toString('utf8');
    const [sha, type, size] = header.split(' ');
    if (type === 'missing' || !sha || !size) { pos = nl + 1; continue; }
    const n = Number(size);
    result.set(sha, out.subarray(nl + 1, nl + 1 + n));
    pos = nl + 1 + n + 1;
  }
  return result;
}

/** Serialises git operations on one bare repository within this process. */
class KeyedMutex {
  private tails = new Map<string, Promise<void>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const next = new Promise<void>((r) => { release = r; });
    const tail = prev.then(() => next);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export function createGitActivities(deps: GitActivityDeps) {
  const { db, logger } = deps;
  const mutex = new KeyedMutex();
  /**
   * Per bare repository and branch: a counter that grows each time a branch fetch starts. A refresh asked for
   * while another fetch was queued or running is satisfied by any fetch that *started* after the
   * request arrived (it saw the remote as of then or later): a burst of pushes to one repository
   * costs a few fetches, not one each, one after another.
   */
  const fetchSeq = new Map<string, number>();
  const maxFile = deps.maxCachedFileBytes ?? 5 * 1024 * 1024;
  const moduleParses: ModuleSourceCache = new Map();

  function repoDir(repoUrl: string): string {
    const h = createHash('sha256').update(repoUrl).digest('hex').slice(0, 24);
    return join(deps.gitCacheDir, `${h}.git`);
  }

  async function hasCommit(dir: string, commit: string): Promise<boolean> {
    try {
      await git(['cat-file', '-e', `${commit}^{commit}`], { cwd: dir });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The bare repository of a URL, created on first use. Made in a temporary directory and renamed
   * into place, so concurrent activities (also in other worker processes) never see a half-made one.
   */
  async function ensureBare(repoUrl: string): Promise<string> {
    const dir = repoDir(repoUrl);
    if (existsSync(join(dir, 'HEAD'))) return dir;
    mkdirSync(deps.gitCacheDir, { recursive: true });
    const tmp = mkdtempSync(`${dir}.tmp-`);
    try {
      await git(['init', '--bare', '--quiet', tmp]);
      await git(['remote', 'add', 'origin', repoUrl], { cwd: tmp });
      try {
        renameSync(tmp, dir);
      } catch (e) {
        // Someone else won the race: theirs is as good as ours.
        if (!existsSync(join(dir, 'HEAD'))) throw e;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
  }

  /**
   * The entries of the tree of `commit` (under `paths` when given: directories with a trailing `/`);
   * `withSizes`: blob sizes too, which costs a lookup per blob.
   */
  async function listTree(dir: string, commit: string, withSizes = false, paths: string[] = []): Promise<TreeEntry[]> {
    const out = await git(['ls-tree', '-r', '-z', '--full-tree', ...(withSizes ? ['-l'] : []), commit, ...(paths.length ? ['--', ...paths] : [])], { cwd: dir });
    const entries: TreeEntry[] = [];
    for (const line of out.toString('utf8').split('\0')) {
      if (!line) continue;
      // <mode> SP <type> SP <object> [SP+ <size>] TAB <path>
      const tab = line.indexOf('\t');
      const [mode, type, sha, size] = line.slice(0, tab).split(/\s+/);
      if (!mode || !type || !sha) continue;
      entries.push({ mode, type, sha, size: withSizes && size && size !== '-' ? Number(size) : null, path: line.slice(tab + 1) });
    }
    return entries;
  }

  function stackDirsOf(entries: TreeEntry[]): string[] {
    const dirs: string[] = [];
    for (const { path: p } of entries) {
      if (p === STACK_FILE) dirs.push('.');
      else if (p.endsWith(`/${STACK_FILE}`)) dirs.push(p.slice(0, -STACK_FILE.length - 1));
    }
    return dirs.sort();
  }

  /**
   * Reads the `.tf`/`.tf.json` files of a directory at one commit, from that commit's tree listing.
   * Each directory is read once; the reads asked for while a batch waits (e.g. by many stacks walked
   * at once) share one `git cat-file --batch`, and blobs already in `blobs` (shared between the commits
   * of one analysis: most are the same) are not read again. Symlinks are not followed.
   */
  function moduleReader(dir: string, entries: TreeEntry[], blobs: Map<string, Buffer>): ReadModuleFiles {
    type Want = Array<{ name: string; sha: string }>;
    const byDir = new Map<string, Want>();
    for (const e of entries) {
      if (e.type !== 'blob' || e.mode === '120000' || !(e.path.endsWith('.tf') || e.path.endsWith('.tf.json'))) continue;
      const d = parentDir(e.path);
      const list = byDir.get(d) ?? [];
      list.push({ name: e.path.slice(d === '.' ? 0 : d.length + 1), sha: e.sha });
      byDir.set(d, list);
    }
    const read = new Map<string, Promise<ModuleFiles | undefined>>();
    let batch: Array<{ files: Want; resolve: (f: ModuleFiles) => void; reject: (e: unknown) => void }> = [];
    const flush = async () => {
      const now = batch;
      batch = [];
      try {
        const shas = [...new Set(now.flatMap((b) => b.files.map((f) => f.sha)))].filter((sha) => !blobs.has(sha));
        if (shas.length) for (const [sha, content] of await catBlobs(dir, shas)) blobs.set(sha, content);
        for (const b of now) {
          const out: ModuleFiles = {};
          for (const f of b.files) out[f.name] = (blobs.get(f.sha) ?? Buffer.alloc(0)).toString('utf8');
          b.resolve(out);
        }
      } catch (e) {
        for (const b of now) b.reject(e);
      }
    };
    return (d) => {
      let p = read.get(d);
      if (!p) {
        const files = byDir.get(d);
        p = !files ? Promise.resolve(undefined) : new Promise<ModuleFiles>((resolve, reject) => {
          batch.push({ files, resolve, reject });
          if (batch.length === 1) setImmediate(() => void flush());
        });
        read.set(d, p);
      }
      return p;
    };
  }

  /** The local modules `stackDir` reads through `read` (one commit); parse results are shared across calls. */
  async function localModules(stackDir: string, read: ReadModuleFiles): Promise<LocalModules> {
    const r = await findLocalModules(stackDir, read, { cache: moduleParses });
    for (const k of moduleParses.keys()) {
      if (moduleParses.size <= MODULE_PARSE_CACHE_ENTRIES) break;
      moduleParses.delete(k);
    }
    return r;
  }

  async function env(repositoryId: string | null): Promise<Record<string, string>> {
    const creds = repositoryId && deps.credentialsFor ? await deps.credentialsFor(repositoryId) : null;
    return credentialEnv(creds);
  }

  async function missingOf(dir: string, commits: string[]): Promise<string[]> {
    const present = await Promise.all(commits.map((c) => hasCommit(dir, c)));
    return commits.filter((_, i) => !present[i]);
  }

  /**
   * Makes `commits` present in this worker's cache, fetching the branch (and the commits by hash when
   * they are gone from it). `required`: a commit still missing afterwards is a non-retryable failure;
   * otherwise the missing ones are just left out (see `analysePush`). `refresh` also fetches when
   * everything is present, so the branch head is current.
   */
  async function fetchInto(repo: RepoRef, commits: string[], refresh: boolean, required = true): Promise<{ head: string | null; missing: string[] }> {
    const dir = await ensureBare(repo.repoUrl);
    const seqKey = `${dir}\n${repo.branch}`;
    const askedAt = fetchSeq.get(seqKey) ?? 0;
    return mutex.run(dir, async () => {
      const branchSpec = `+refs/heads/${repo.branch}:refs/heads/${repo.branch}`;
      let missing = await missingOf(dir, commits);
      const freshEnough = (fetchSeq.get(seqKey) ?? 0) > askedAt;
      if (missing.length > 0 || (refresh && !freshEnough)) {
        const e = await env(repo.repositoryId);
        fetchSeq.set(seqKey, (fetchSeq.get(seqKey) ?? 0) + 1);
        try {
          await git(['fetch', '--quiet', '--no-tags', '--prune', 'origin', branchSpec], { cwd: dir, env: e });
        } catch (err) {
          // A deleted branch is not an error of the fetch itself; the missing commit check decides.
          const gone = err instanceof GitError && /couldn't find remote ref/i.test(err.stderr);
          if (!gone && missing.length > 0) throw new Error(`fetching ${repo.branch} of ${repo.repoUrl}: ${(err as Error).message}`);
          if (!gone) logger.warn({ repoUrl: repo.repoUrl, err: (err as Error).message }, 'refreshing branch failed');
        }
        for (const c of await missingOf(dir, missing)) {
          // The commit may already be gone from the branch (a later force push); ask for it directly.
          await git(['fetch', '--quiet', '--no-tags', 'origin', c], { cwd: dir, env: e }).catch(() => undefined);
        }
        missing = await missingOf(dir, missing);
      }
      if (missing.length && required) {
        throw ApplicationFailure.nonRetryable(`fetching ${repo.repoUrl}: commit ${missing.join(', ')} not found`, 'CommitNotFound');
      }
      const head = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${repo.branch}`], { cwd: dir })
        .then((b) => b.toString().trim())
        .catch(() => null);
      return { head, missing };
    });
  }

  /** The bare repository of `repo` holding `commits` (fetched when this worker has not seen them). */
  async function withCommits(repo: RepoRef, commits: string[]): Promise<string> {
    await fetchInto(repo, commits, false);
    return repoDir(repo.repoUrl);
  }

  async function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
    try {
      await git(['merge-base', '--is-ancestor', a, b], { cwd: dir });
      return true;
    } catch (e) {
      if (e instanceof GitError && e.code === 1) return false;
      throw e;
    }
  }

  /** Paths that differ between two commits. */
  async function changedPaths(dir: string, from: string, to: string): Promise<string[]> {
    const out = await git(['diff', '--name-only', '-z', '--no-renames', from, to], { cwd: dir });
    return out.toString('utf8').split('\0').filter(Boolean);
  }

  return {
    /** Fetches the tracked branch (and, if needed, the pushed commit) into the bare cache. */
    async fetchRepository(input: FetchInput): Promise<{ head: string | null }> {
      input.commits.forEach((c) => assertCommit(c, 'commit'));
      return fetchInto(input, input.commits, true);
    },

    /**
     * Stack directories at `after`, ancestry between `before` and `after`, whether `after` is still on
     * the branch, and for each stack the registry knows: how its latest commit relates to `after` and
     * whether anything it reads (its directory, policies/, its local modules) differs. Diffing against
     * what the registry has, not against the push's `before`, is what makes pushes handled out of
     * order, or skipped, converge; judging "newer" against the branch head as fetched now is what
     * makes a force push to an older commit win.
     */
    async analysePush(input: AnalyseInput): Promise<PushAnalysis> {
      assertCommit(input.after, 'after');
      const before = input.before && input.before !== ZERO_COMMIT && COMMIT_RE.test(input.before) ? input.before : null;
      const knownCommits = [...new Set((input.known ?? []).map((k) => k.latestCommit).filter((c) => COMMIT_RE.test(c)))];
      // Refresh: reachability is judged against the branch head as the remote has it now.
      await fetchInto(input, [input.after], true);
      const { head, missing } = await fetchInto(input, [...(before ? [before] : []), ...knownCommits], false, false);
      const dir = repoDir(input.repoUrl);
      const onBranch = async (c: string): Promise<boolean> => head !== null && (c === head || await isAncestor(dir, c, head));

      // Per commit, one tree listing and a reader of its module files.
      const blobs = new Map<string, Buffer>();
      const trees = new Map<string, Promise<{ entries: TreeEntry[]; read: ReadModuleFiles }>>();
      const treeOf = (c: string) => memo(trees, c, async () => {
        const entries = await listTree(dir, c);
        return { entries, read: moduleReader(dir, entries, blobs) };
      });
      const atAfter = await treeOf(input.after);
      const stackDirs = stackDirsOf(atAfter.entries);
      const afterOnBranch = await onBranch(input.after);

      // Per distinct latest commit L (usually one for every stack): its relation and what changed since.
      const relations = new Map<string, Promise<CommitRelation>>();
      // L newer than `after` counts only while L is on the branch: one force-pushed away does not.
      const relationOf = (L: string) => memo(relations, L, async (): Promise<CommitRelation> => (
        (await isAncestor(dir, L, input.after)) ? 'behind'
          : (await isAncestor(dir, input.after, L)) && (await onBranch(L)) ? 'ahead' : 'diverged'));
      const compared = (input.known ?? []).filter((k) => k.latestCommit !== input.after && COMMIT_RE.test(k.latestCommit) && !missing.includes(k.latestCommit));
      // What changed since each L: the changed paths and every directory above them.
      const changes = new Map<string, { any: boolean; under: Set<string> }>();
      for (const L of new Set(compared.map((k) => k.latestCommit))) {
        const paths = await changedPaths(dir, L, input.after);
        const under = new Set<string>();
        for (const p of paths) for (let d = p; d !== '.' && !under.has(d); d = parentDir(d)) under.add(d);
        changes.set(L, { any: paths.length > 0, under });
      }
      /** Changed for sure (or for sure not), without looking at modules; undefined: it depends on them. */
      const plainly = (repoPath: string, L: string): boolean | undefined => {
        const c = changes.get(L)!;
        if (!c.any || repoPath === '.' || c.under.has(repoPath) || c.under.has(POLICIES_DIR)) return c.any;
        return undefined;
      };
      // The local modules at `after` and at L of each stack that depends on them, walked together so
      // that their reads share batches.
      const modules = new Map(await Promise.all(compared.filter((k) => plainly(k.repoPath, k.latestCommit) === undefined).map(async (k) => {
        const [now, then] = await Promise.all([
          localModules(k.repoPath, atAfter.read), treeOf(k.latestCommit).then((t) => localModules(k.repoPath, t.read)),
        ]);
        return [`${k.repoPath}\n${k.latestCommit}`, { now, then }] as const;
      })));

      /** Does anything `repoPath` reads (its directory, policies/, its local modules) differ between L and `after`? */
      const touchedSince = (repoPath: string, L: string): boolean => {
        const plain = plainly(repoPath, L);
        if (plain !== undefined) return plain;
        const { now, then } = modules.get(`${repoPath}\n${L}`)!;
        const errors = [...now.errors.map((e) => `at ${input.after}: ${e}`), ...then.errors.map((e) => `at ${L}: ${e}`)];
        if (errors.length) {
          logger.warn({ repoUrl: input.repoUrl, stack: repoPath, errors }, 'local modules of a stack could not all be followed; counting the stack as changed');
          return true;
        }
        if (now.escaping.length || now.cycles.length) {
          logger.info({
            repoUrl: input.repoUrl, stack: repoPath, commit: input.after,
            escaping: now.escaping.map((x) => `${x.file}: module "${x.name}" source "${x.source}"`),
            cycles: now.cycles.map((c) => c.join(' → ')),
          }, 'local module sources not followed (outside the repository, or a cycle)');
        }
        const read = [...now.dirs, ...then.dirs];
        return read.includes('.') || read.some((d) => changes.get(L)!.under.has(d));
      };

      const known: Record<string, KnownStackAnalysis> = {};
      for (const k of input.known ?? []) {
        const L = k.latestCommit;
        if (L === input.after) { known[k.repoPath] = { relation: 'same', touched: false }; continue; }
        if (!COMMIT_RE.test(L) || missing.includes(L)) { known[k.repoPath] = { relation: 'unknown', touched: true }; continue; }
        known[k.repoPath] = { relation: await relationOf(L), touched: touchedSince(k.repoPath, L) };
      }
      const beforeIsAncestor = !before || missing.includes(before) ? null : await isAncestor(dir, before, input.after);
      return { stackDirs, beforeIsAncestor, afterOnBranch, known };
    },

    /** Reads and validates the stack.hcl of each directory at `commit`. */
    async loadStackConfigs(input: RepoRef & { commit: string; dirs: string[] }): Promise<Record<string, StackConfigResult>> {
      assertCommit(input.commit, 'commit');
      const dir = await withCommits(input, [input.commit]);
      const out: Record<string, StackConfigResult> = {};
      for (const d of input.dirs) {
        const file = d === '.' ? STACK_FILE : `${d}/${STACK_FILE}`;
        let text: string;
        try {
          text = (await git(['show', `${input.commit}:${file}`], { cwd: dir })).toString('utf8');
        } catch (e) {
          out[d] = { ok: false, error: { file, line: null, field: null, message: `reading ${file}: ${(e as Error).message}` } };
          continue;
        }
        out[d] = await validateStackConfig(file, text);
      }
      return out;
    },

    /**
     * Fills git_cache with every file at `commit` of the given directories, of policies/, and of the
     * local module directories those directories read (at any depth).
     */
    async fillGitCache(input: RepoRef & { commit: string; dirs: string[] }): Promise<{ files: number; skipped: string[] }> {
      assertCommit(input.commit, 'commit');
      const dir = await withCommits(input, [input.commit]);
      const dirs = new Set([...input.dirs, POLICIES_DIR]);
      if (!dirs.has('.')) {
        const read = moduleReader(dir, await listTree(dir, input.commit), new Map());
        await Promise.all(input.dirs.map(async (d) => {
          const m = await localModules(d, read);
          if (m.errors.length) logger.warn({ repoUrl: input.repoUrl, stack: d, commit: input.commit, errors: m.errors }, 'local modules of a stack could not all be followed; caching those found');
          for (const x of m.dirs) dirs.add(x);
        }));
      }
      const whole = dirs.has('.');
      // ls-tree takes paths literally (no wildcards); sizes are looked up only for what is listed.
      const entries = await listTree(dir, input.commit, true, whole ? [] : [...dirs].map((d) => `${d}/`));
      const files: Array<{ sha: string; path: string }> = [];
      const skipped: string[] = [];
      for (const e of entries) {
        if (e.type !== 'blob') continue;
        if ((e.size ?? 0) > maxFile) { skipped.push(e.path); continue; }
        files.push(e);
      }
      const blobs = await catBlobs(dir, [...new Set(files.map((e) => e.sha))]);
      const cached = files.map((e) => ({ path: e.path, content: blobs.get(e.sha)! })).filter((f) => f.content);
      await putFiles(db, input.repoUrl, input.commit, cached);
      return { files: cached.length, skipped };
    },

    /** Commits (of deployed states) that are not reachable from the head of `branch` in the cache. */
    async findUnreachableCommits(input: RepoRef & { commits: string[] }): Promise<string[]> {
      const commits = [...new Set(input.commits)];
      // Refresh: reachability is judged against the branch head as the remote has it now.
      const { missing } = await fetchInto(input, commits.filter((c) => COMMIT_RE.test(c)), true, false);
      const dir = repoDir(input.repoUrl);
      const unreachable: string[] = [];
      for (const c of commits) {
        // Not a hash, or gone from the remote and from this cache: unreachable.
        if (!COMMIT_RE.test(c) || missing.includes(c)) { unreachable.push(c); continue; }
        try {
          if (!(await isAncestor(dir, c, `refs/heads/${input.branch}`))) unreachable.push(c);
        } catch (e) {
          // 128: the branch itself is gone.
          if (e instanceof GitError && e.code === 128) unreachable.push(c);
          else throw e;
        }
      }
      return unreachable;
    },
  };
}

export type GitActivities = ReturnType<typeof createGitActivities>;
