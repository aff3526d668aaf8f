/**
 * Git activities of the push pipeline on the control worker: fetches into the worker's mirror of each
 * repository (activities/git-mirror.ts, shared with the execution workers: location, atomic
 * creation, credentials through the environment, one fetch at a time per mirror), the analysis of a
 * push against the registry (stack directories, ancestry and reachability from the branch head,
 * change detection that follows local modules), and filling the git_cache table. Files are read
 * straight from the bare repository (`git ls-tree` + `git cat-file --batch`), never from a checkout.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db';
import { putFiles } from '../db/repos/git-cache';
import { listLiveStackCodesOfRepo } from '../db/repos/stack-codes';
import { listStatesOfStackCode } from '../db/repos/stack-states';
import type { PullRequestStacks, PullRequestTarget } from '../workflows/model/pull-request';
import { recordEvent } from '../db/repos/events';
import { markDeliveryRefused } from '../db/repos/webhook-deliveries';
import type { Logger } from '../common/logger';
import type { GitCredentials } from '../common/secret-box';
import { COMMIT_RE, GitError, GitMirror } from './git-mirror';
import { findLocalModules, type LocalModules, type ModuleSourceCache, type ReadModuleFiles } from './hcl/local-modules';
import type { ModuleFiles } from './hcl/parse-module';
import { validateStackConfig } from './stack-config-adapter';
import type { AnalyseInput, CommitRelation, FetchInput, KnownStackAnalysis, PushAnalysis, RepoRef } from '../workflows/model/git';
import type { StackConfigResult } from '../workflows/model/stack';
import type { GitActivities } from '../workflows/model/activities';

export interface GitActivityDeps {
  db: Db;
  logger: Logger;
  /** Directory holding one bare repository per repository URL. */
  gitCacheDir: string;
  /** Decrypted credentials of a registered repository, or null for public/local repositories. */
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  /** The environment git takes PATH, HOME, proxies from (activities/git-mirror.ts; default: this process's). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Files bigger than this are not put in git_cache (workers fetch them from git). */
  maxCachedFileBytes?: number;
}

export const ZERO_COMMIT = '0000000000000000000000000000000000000000';
export const POLICIES_DIR = 'policies';
export const STACK_FILE = 'stack.hcl';

/** Module parse results kept per worker process (by content), across pushes. */
const MODULE_PARSE_CACHE_ENTRIES = 2000;
/** Answers about commits kept per worker (ancestry, changed paths): a few MB at most. */
const FIXED_ANSWERS = 20_000;
/** Whole commit trees kept per worker (the listing of a commit, shared by the rounds and pushes of a burst). */
const TREES_KEPT = 32;

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

export function createGitActivities(deps: GitActivityDeps): GitActivities {
  const { db, logger } = deps;
  const maxFile = deps.maxCachedFileBytes ?? 5 * 1024 * 1024;
  const moduleParses: ModuleSourceCache = new Map();

  /** This worker's mirror of a repository; credentials are decrypted only when a fetch needs them. */
  function mirrorOf(repo: RepoRef): GitMirror {
    return new GitMirror(deps.gitCacheDir, repo.repoUrl, {
      ...(deps.baseEnv ? { baseEnv: deps.baseEnv } : {}),
      credentials: async () => (repo.repositoryId && deps.credentialsFor ? deps.credentialsFor(repo.repositoryId) : null),
      onRefreshFailure: (err) => logger.warn({ repoUrl: repo.repoUrl, err }, 'refreshing branch failed'),
    });
  }

  /** Whole trees of recent commits (a commit's tree never changes): the rounds of a push and a burst's pushes list the same ones. */
  const treeListings = new Map<string, Promise<TreeEntry[]>>();
  /**
   * The entries of the tree of `commit` (under `paths` when given: directories with a trailing `/`);
   * `withSizes`: blob sizes too, which costs a lookup per blob. Callers only read them.
   */
  function listTree(m: GitMirror, commit: string, withSizes = false, paths: string[] = []): Promise<TreeEntry[]> {
    if (paths.length || !COMMIT_RE.test(commit)) return listTreeNow(m, commit, withSizes, paths);
    const key = `${m.dir}\n${commit}\n${withSizes}`;
    let p = treeListings.get(key);
    if (!p) {
      p = listTreeNow(m, commit, withSizes, paths);
      treeListings.set(key, p);
      p.catch(() => treeListings.delete(key));
      for (const k of treeListings.keys()) {
        if (treeListings.size <= TREES_KEPT) break;
        treeListings.delete(k);
      }
    }
    return p;
  }

  async function listTreeNow(m: GitMirror, commit: string, withSizes: boolean, paths: string[]): Promise<TreeEntry[]> {
    const out = await m.git(['ls-tree', '-r', '-z', '--full-tree', ...(withSizes ? ['-l'] : []), commit, ...(paths.length ? ['--', ...paths] : [])]);
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
  function moduleReader(m: GitMirror, entries: TreeEntry[], blobs: Map<string, Buffer>): ReadModuleFiles {
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
        if (shas.length) for (const [sha, content] of await m.catBlobs(shas)) blobs.set(sha, content);
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

  /**
   * Makes `commits` present in this worker's mirror, fetching the branch (and the commits by hash when
   * they are gone from it). `required`: a commit still missing afterwards is a non-retryable failure;
   * otherwise the missing ones are just left out (see `analysePush`). `refresh` also fetches when
   * everything is present, so the branch head is current.
   */
  async function fetchInto(repo: RepoRef, commits: string[], refresh: boolean, required = true, refs: string[] = [], headless = false): Promise<{ m: GitMirror; head: string | null; missing: string[] }> {
    const m = mirrorOf(repo);
    const { head, missing } = await m.fetch(commits, { branch: repo.branch, refresh, required, headless, ...(refs.length ? { refs } : {}) });
    return { m, head, missing };
  }

  /**
   * Answers about commits never change (a commit's ancestry and its diff to another commit are fixed),
   * so they are kept: the rounds of one push and the pushes of a burst ask the same questions, and
   * each answer otherwise costs a git process. Refs (which move) are never kept.
   */
  const fixedAnswers = new Map<string, boolean | string[]>();
  async function fixed<T extends boolean | string[]>(key: string, cacheable: boolean, fn: () => Promise<T>): Promise<T> {
    if (cacheable && fixedAnswers.has(key)) return fixedAnswers.get(key) as T;
    const v = await fn();
    if (cacheable) {
      fixedAnswers.set(key, v);
      for (const k of fixedAnswers.keys()) {
        if (fixedAnswers.size <= FIXED_ANSWERS) break;
        fixedAnswers.delete(k);
      }
    }
    return v;
  }

  async function isAncestor(m: GitMirror, a: string, b: string): Promise<boolean> {
    return fixed(`ancestor\n${m.dir}\n${a}\n${b}`, COMMIT_RE.test(a) && COMMIT_RE.test(b), async () => {
      try {
        await m.git(['merge-base', '--is-ancestor', a, b]);
        return true;
      } catch (e) {
        if (e instanceof GitError && e.code === 1) return false;
        throw e;
      }
    });
  }

  /** Paths that differ between two commits. */
  async function changedPaths(m: GitMirror, from: string, to: string): Promise<string[]> {
    return fixed(`diff\n${m.dir}\n${from}\n${to}`, COMMIT_RE.test(from) && COMMIT_RE.test(to), async () => {
      const out = await m.git(['diff', '--name-only', '-z', '--no-renames', from, to]);
      return out.toString('utf8').split('\0').filter(Boolean);
    });
  }

  /** Records that a push is refused (idempotent: a retried activity records the same). */
  async function refusePush(input: AnalyseInput & { delivery: NonNullable<AnalyseInput['delivery']> }, reason: string): Promise<void> {
    await markDeliveryRefused(db, input.delivery.deliveryId, reason);
    await recordEvent(db, {
      accountId: input.delivery.accountId, type: 'push_refused', dedupeKey: `push_refused:${input.delivery.deliveryId}`,
      payload: { reason, delivery_id: input.delivery.deliveryId, repo_url: input.repoUrl, branch: input.branch, commit: input.after },
    });
    logger.warn({ deliveryId: input.delivery.deliveryId, repoUrl: input.repoUrl, branch: input.branch, commit: input.after, reason }, 'push refused');
  }

  return {
    async fetchRepository(input: FetchInput): Promise<{ head: string | null }> {
      input.commits.forEach((c) => assertCommit(c, 'commit'));
      // A push's commit that cannot be fetched is refused by analysePush (recorded), not a failed workflow.
      const { head } = await fetchInto(input, input.commits, true, !input.delivery);
      return { head };
    },

    async analysePush(input: AnalyseInput): Promise<PushAnalysis> {
      assertCommit(input.after, 'after');
      const before = input.before && input.before !== ZERO_COMMIT && COMMIT_RE.test(input.before) ? input.before : null;
      const knownCommits = [...new Set((input.known ?? []).map((k) => k.latestCommit).filter((c) => COMMIT_RE.test(c)))];
      // Refresh: reachability, and which of two commits is newer on the branch, are judged against the
      // branch head as the remote has it now (a burst of pushes shares fetches: git-mirror.ts).
      const fetched = await fetchInto(input, [input.after], true, !input.delivery);
      // The other commits only need to be present: the branch head of the refresh just above serves,
      // unless one of them was missing and fetched (without the mirror's lock when none is).
      const others = await fetchInto(input, [...(before ? [before] : []), ...knownCommits], false, false, [], true);
      const { m, missing } = others;
      const head = others.head ?? fetched.head;
      const onBranch = async (c: string): Promise<boolean> => head !== null && (c === head || await isAncestor(m, c, head));
      if (input.delivery) {
        // Only the tracked branch deploys: the pushed commit must be reachable from its head after fetching.
        const why = fetched.missing.includes(input.after) ? `commit ${input.after} does not exist in ${input.repoUrl}`
          : !(await onBranch(input.after)) ? `commit ${input.after} is not reachable from the tracked branch ${input.branch} (head ${head ?? 'missing'})`
            : undefined;
        if (why) {
          await refusePush({ ...input, delivery: input.delivery }, `${why}: only the tracked branch deploys; nothing registered or run`);
          return { stackDirs: [], beforeIsAncestor: null, afterOnBranch: false, known: {} };
        }
      }

      // Per commit, one tree listing and a reader of its module files.
      const blobs = new Map<string, Buffer>();
      const trees = new Map<string, Promise<{ entries: TreeEntry[]; read: ReadModuleFiles }>>();
      const treeOf = (c: string) => memo(trees, c, async () => {
        const entries = await listTree(m, c);
        return { entries, read: moduleReader(m, entries, blobs) };
      });
      const atAfter = await treeOf(input.after);
      const stackDirs = stackDirsOf(atAfter.entries);
      const afterOnBranch = await onBranch(input.after);

      // Per distinct latest commit L (usually one for every stack): its relation and what changed since.
      const relations = new Map<string, Promise<CommitRelation>>();
      // L newer than `after` counts only while L is on the branch: one force-pushed away does not.
      const relationOf = (L: string) => memo(relations, L, async (): Promise<CommitRelation> => (
        (await isAncestor(m, L, input.after)) ? 'behind'
          : (await isAncestor(m, input.after, L)) && (await onBranch(L)) ? 'ahead' : 'diverged'));
      const compared = (input.known ?? []).filter((k) => k.latestCommit !== input.after && COMMIT_RE.test(k.latestCommit) && !missing.includes(k.latestCommit));
      // What changed since each L: the changed paths and every directory above them.
      const changes = new Map<string, { any: boolean; under: Set<string> }>();
      for (const L of new Set(compared.map((k) => k.latestCommit))) {
        const paths = await changedPaths(m, L, input.after);
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
      const beforeIsAncestor = !before || missing.includes(before) ? null : await isAncestor(m, before, input.after);
      return { stackDirs, beforeIsAncestor, afterOnBranch, known };
    },

    async loadStackConfigs(input: RepoRef & { commit: string; dirs: string[] }): Promise<Record<string, StackConfigResult>> {
      assertCommit(input.commit, 'commit');
      const { m } = await fetchInto(input, [input.commit], false, true, [], true);
      const out: Record<string, StackConfigResult> = {};
      for (const d of input.dirs) {
        const file = d === '.' ? STACK_FILE : `${d}/${STACK_FILE}`;
        let text: string;
        try {
          text = (await m.git(['show', `${input.commit}:${file}`])).toString('utf8');
        } catch (e) {
          out[d] = { ok: false, error: { file, line: null, field: null, message: `reading ${file}: ${(e as Error).message}` } };
          continue;
        }
        out[d] = await validateStackConfig(file, text);
      }
      return out;
    },

    async fillGitCache(input: RepoRef & { commit: string; dirs: string[] }): Promise<{ files: number; skipped: string[] }> {
      assertCommit(input.commit, 'commit');
      const { m } = await fetchInto(input, [input.commit], false, true, [], true);
      const dirs = new Set([...input.dirs, POLICIES_DIR]);
      if (!dirs.has('.')) {
        const read = moduleReader(m, await listTree(m, input.commit), new Map());
        await Promise.all(input.dirs.map(async (d) => {
          const m = await localModules(d, read);
          if (m.errors.length) logger.warn({ repoUrl: input.repoUrl, stack: d, commit: input.commit, errors: m.errors }, 'local modules of a stack could not all be followed; caching those found');
          for (const x of m.dirs) dirs.add(x);
        }));
      }
      const whole = dirs.has('.');
      // ls-tree takes paths literally (no wildcards); sizes are looked up only for what is listed.
      const entries = await listTree(m, input.commit, true, whole ? [] : [...dirs].map((d) => `${d}/`));
      const files: Array<{ sha: string; path: string }> = [];
      const skipped: string[] = [];
      for (const e of entries) {
        if (e.type !== 'blob') continue;
        if ((e.size ?? 0) > maxFile) { skipped.push(e.path); continue; }
        files.push(e);
      }
      const blobs = await m.catBlobs([...new Set(files.map((e) => e.sha))]);
      const cached = files.map((e) => ({ path: e.path, content: blobs.get(e.sha)! })).filter((f) => f.content);
      await putFiles(db, input.repoUrl, input.commit, cached);
      return { files: cached.length, skipped };
    },

    async findPullRequestStacks(input: RepoRef & { accountId: string; headSha: string; baseSha: string; headRef: string }): Promise<PullRequestStacks> {
      assertCommit(input.headSha, 'headSha');
      assertCommit(input.baseSha, 'baseSha');
      // The head is on no branch: fetched from refs/pull/<n>/head (by hash if that ref is gone).
      const { m } = await fetchInto(input, [input.headSha, input.baseSha], false, true, [input.headRef]);
      // What the pull request changes is measured from where it left its base (as GitHub's "files changed").
      const mergeBase = await m.git(['merge-base', input.baseSha, input.headSha]).then((b) => b.toString().trim(), () => input.baseSha);
      const paths = await changedPaths(m, mergeBase, input.headSha);
      const under = new Set<string>();
      for (const p of paths) for (let d = p; d !== '.' && !under.has(d); d = parentDir(d)) under.add(d);
      const blobs = new Map<string, Buffer>();
      const headEntries = await listTree(m, input.headSha);
      const headRead = moduleReader(m, headEntries, blobs);
      const baseRead = moduleReader(m, await listTree(m, mergeBase), blobs);
      const headDirs = new Set(stackDirsOf(headEntries));
      // Only the account's own stacks: the same URL may be registered in other accounts.
      const codes = (await listLiveStackCodesOfRepo(db, input.repoUrl)).filter((c) => c.status === 'active' && c.account_id === input.accountId);
      const registered = new Set(codes.map((c) => c.repo_path));
      const touched = async (dir: string): Promise<boolean> => {
        if (paths.length === 0) return false;
        if (dir === '.' || under.has(dir) || under.has(POLICIES_DIR)) return true;
        const [now, then] = await Promise.all([localModules(dir, headRead), localModules(dir, baseRead)]);
        if (now.errors.length || then.errors.length) return true;
        return [...now.dirs, ...then.dirs].some((d) => d === '.' || under.has(d));
      };
      const targets: PullRequestTarget[] = [];
      const removedStacks: string[] = [];
      for (const c of codes) {
        if (!headDirs.has(c.repo_path)) { if (under.has(c.repo_path) || c.repo_path === '.') removedStacks.push(c.repo_path); continue; }
        if (!(await touched(c.repo_path))) continue;
        const states = (await listStatesOfStackCode(db, c.id)).filter((st) => st.status === 'active').map((st) => ({ id: st.id, name: st.name }));
        targets.push({ stackCodeId: c.id, stack: c.name, repoPath: c.repo_path, states });
      }
      const newStacks = [...headDirs].filter((d) => !registered.has(d) && (d === '.' || under.has(d)));
      return { mergeBase, targets, newStacks, removedStacks };
    },

    async findUnreachableCommits(input: RepoRef & { commits: string[] }): Promise<string[]> {
      const commits = [...new Set(input.commits)];
      // Refresh: reachability is judged against the branch head as the remote has it now.
      const { m, missing } = await fetchInto(input, commits.filter((c) => COMMIT_RE.test(c)), true, false);
      const unreachable: string[] = [];
      for (const c of commits) {
        // Not a hash, or gone from the remote and from this cache: unreachable.
        if (!COMMIT_RE.test(c) || missing.includes(c)) { unreachable.push(c); continue; }
        try {
          if (!(await isAncestor(m, c, `refs/heads/${input.branch}`))) unreachable.push(c);
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
