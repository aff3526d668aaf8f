/**
 * The git of both worker kinds: the control worker's push analysis (activities/git.ts) and the
 * execution workers' checkouts (activities/terraform/stack-code.ts) go through this one module. It
 * owns where a repository's bare mirror lives (one per repository URL under a worker's git
 * directory), creating it atomically, fetching commits into it, one fetch at a time per mirror in
 * this process, the environment git runs with, reading from the mirror, and checking a commit out
 * into a directory (`git archive`).
 *
 * The environment is the same for every git command: LC_ALL=C, GIT_TERMINAL_PROMPT=0 and, of the
 * worker's own environment, only what git needs to find programs, its home, proxies and CA
 * certificates (never the worker's secrets: VAULT_TOKEN, S3 keys, DATABASE_URL, …). Clone
 * credentials travel to git through GIT_CONFIG_* variables (an `http.extraHeader`), only on fetches
 * and only in that child's environment: never argv, never logs.
 *
 * Every command runs through the helper process of common/spawner.ts: a fork from a worker process
 * (large) blocks its event loop for tens of milliseconds each.
 */
import { hostEnvironment } from '../common/config';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { GitCredentials } from '../common/secret-box';
import { execInHelper } from '../common/spawner';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** The worker's environment git may see: programs, its home (git config), proxies, CA certificates, an ssh agent. */
const INHERITED = [
  'PATH', 'HOME', 'TMPDIR',
  'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'SSH_AUTH_SOCK', 'GIT_SSH_COMMAND',
];

type Env = Readonly<Record<string, string | undefined>>;

/** The environment of a git command: see the header. `credentials` only for fetches. */
export function gitEnv(base: Env, credentials: GitCredentials | null = null): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of INHERITED) if (base[k]) env[k] = base[k]!;
  env.PATH ??= '/usr/bin:/bin';
  env.HOME ??= '/tmp';
  env.LC_ALL = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  if (credentials) {
    const basic = 'token' in credentials
      ? Buffer.from(`${credentials.username ?? 'x-access-token'}:${credentials.token}`).toString('base64')
      : Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` });
  }
  return env;
}

export class GitError extends Error {
  constructor(message: string, readonly code: number | null, readonly stderr: string) {
    super(message);
  }
}

/** Where the bare mirror of `repoUrl` lives under a worker's git directory. */
export function mirrorDir(gitDir: string, repoUrl: string): string {
  return join(gitDir, `${createHash('sha256').update(repoUrl).digest('hex').slice(0, 24)}.git`);
}

// Process-wide, keyed by mirror directory: every GitMirror of one directory shares them, whichever
// activity factory made it.
/** The tail of each mirror's queue of fetches. */
const tails = new Map<string, Promise<void>>();
/** Per mirror and refspec: how many fetches have started (see `fetch`, `refresh`). */
const fetchSeq = new Map<string, number>();
/**
 * Commits known to be in a mirror (`<mirror>\n<commit>`): a commit never leaves a mirror, and every
 * `git cat-file` is a child process, which under load costs tens of milliseconds (bench/runs.ts).
 */
const present = new Set<string>();

/** Runs `fn` after every earlier `exclusive` call of the same key has finished. */
async function exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const next = new Promise<void>((r) => { release = r; });
  const tail = prev.then(() => next);
  tails.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}

export interface MirrorOptions {
  /** The environment git takes PATH, HOME, proxies and CA settings from (default: this process's). */
  baseEnv?: Env;
  /** The repository's clone credentials; asked for only when a fetch is needed. */
  credentials?: () => Promise<GitCredentials | null>;
  /** Told when a refresh failed although every asked-for commit was present (the fetch goes on). */
  onRefreshFailure?: (message: string) => void;
}

export interface FetchOptions {
  /** Fetch this branch (pruned); without it, every branch. */
  branch?: string;
  /**
   * Fetch even when every commit is present, so the branch head is current; a refresh asked for
   * while another fetch of the same refspec was queued or running is satisfied by any fetch that
   * *started* after the request (it saw the remote as of then or later): a burst of pushes to one
   * repository costs a few fetches, not one each.
   */
  refresh?: boolean;
  /** A commit still missing afterwards is a non-retryable CommitNotFound (default); else it is returned. */
  required?: boolean;
  /**
   * The caller does not need the branch head: when every commit is known present and no refresh is
   * asked for, nothing runs (no wait for the mirror's lock, no git process; `head` is null).
   */
  headless?: boolean;
  /**
   * Refs that hold commits not on any branch (a pull request's head: `refs/pull/<n>/head`), fetched
   * when a commit is still missing after the branches (before asking for it by hash).
   */
  refs?: string[];
}

/** The refs a fetch may name besides branches: a pull request's head or merge commit. */
export const PULL_REF_RE = /^refs\/pull\/\d{1,10}\/(head|merge)$/;

/** The bare mirror of one repository URL in a worker's git directory. */
export class GitMirror {
  readonly dir: string;
  private readonly baseEnv: Env;

  constructor(readonly gitDir: string, readonly repoUrl: string, private readonly opts: MirrorOptions = {}) {
    this.dir = mirrorDir(gitDir, repoUrl);
    this.baseEnv = opts.baseEnv ?? hostEnvironment();
  }

  /** git in the mirror (without credentials); rejects with GitError carrying the exit code. */
  async git(args: string[], opts: { input?: Buffer; maxBuffer?: number; env?: Record<string, string>; cwd?: string } = {}): Promise<Buffer> {
    const r = await execInHelper('git', args, {
      cwd: opts.cwd ?? this.dir, env: opts.env ?? gitEnv(this.baseEnv), maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
      ...(opts.input ? { input: opts.input } : {}),
    });
    if (r.code === 0 && !r.error) return r.stdout;
    const se = r.stderr.toString('utf8').trim();
    throw new GitError(`git ${args[0]}: ${se || r.error || `exit ${r.code}`}`, r.code, se);
  }

  /** Reads many blobs with one `git cat-file --batch`; missing ones are left out. */
  async catBlobs(shas: string[]): Promise<Map<string, Buffer>> {
    const out = await this.git(['cat-file', '--batch'], { input: Buffer.from(shas.join('\n') + '\n'), maxBuffer: 512 * 1024 * 1024 });
    const result = new Map<string, Buffer>();
    let pos = 0;
    while (pos < out.length) {
      const nl = out.indexOf(0x0a, pos);
      const [sha, type, size] = out.subarray(pos, nl).toString('utf8').split(' ');
      if (type === 'missing' || !sha || !size) { pos = nl + 1; continue; }
      const n = Number(size);
      result.set(sha, out.subarray(nl + 1, nl + 1 + n));
      pos = nl + 1 + n + 1;
    }
    return result;
  }

  async hasCommit(commit: string): Promise<boolean> {
    const key = `${this.dir}\n${commit}`;
    if (present.has(key)) return true;
    const ok = await this.git(['cat-file', '-e', `${commit}^{commit}`]).then(() => true, () => false);
    if (ok) present.add(key);
    return ok;
  }

  private async missingOf(commits: string[]): Promise<string[]> {
    const here = await Promise.all(commits.map((c) => this.hasCommit(c)));
    return commits.filter((_, i) => !here[i]);
  }

  /**
   * Creates the mirror on first use: made in a temporary directory and renamed into place, so
   * concurrent activities (also of other worker processes) never see a half-made one.
   */
  async open(): Promise<void> {
    if (existsSync(join(this.dir, 'HEAD'))) return;
    // A mirror removed under a running worker: what it held is gone too.
    for (const k of present) if (k.startsWith(`${this.dir}\n`)) present.delete(k);
    mkdirSync(this.gitDir, { recursive: true });
    const tmp = mkdtempSync(`${this.dir}.tmp-`);
    try {
      await this.git(['init', '--bare', '--quiet', tmp], { cwd: this.gitDir });
      await this.git(['remote', 'add', 'origin', this.repoUrl], { cwd: tmp });
      try {
        renameSync(tmp, this.dir);
      } catch (e) {
        // Someone else won the race: theirs is as good as ours.
        if (!existsSync(join(this.dir, 'HEAD'))) throw e;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Makes `commits` present: fetches the branch (or every branch) when one is missing or a refresh
   * is asked for, then each commit still missing by its hash (gone from the branches after a force
   * push). Returns the commits still missing (see `required`) and, with `branch`, its head as fetched.
   */
  async fetch(commits: string[], opts: FetchOptions = {}): Promise<{ missing: string[]; head: string | null }> {
    for (const c of commits) {
      if (!COMMIT_RE.test(c)) throw ApplicationFailure.nonRetryable(`fetching ${this.repoUrl}: ${JSON.stringify(c)} is not a commit hash`, 'InvalidInput');
    }
    for (const r of opts.refs ?? []) {
      if (!PULL_REF_RE.test(r)) throw ApplicationFailure.nonRetryable(`fetching ${this.repoUrl}: ${JSON.stringify(r)} is not a pull request ref`, 'InvalidInput');
    }
    if (!opts.refresh && (!opts.branch || opts.headless) && commits.every((c) => present.has(`${this.dir}\n${c}`))) return { missing: [], head: null };
    const refspec = opts.branch ? `+refs/heads/${opts.branch}:refs/heads/${opts.branch}` : '+refs/heads/*:refs/heads/*';
    const seqKey = `${this.dir}\n${refspec}`;
    // Read when asked, before anything is awaited: a fetch started after this moment is fresh enough.
    const askedAt = fetchSeq.get(seqKey) ?? 0;
    await this.open();
    const result = await exclusive(this.dir, async () => {
      let missing = await this.missingOf(commits);
      const freshEnough = (fetchSeq.get(seqKey) ?? 0) > askedAt;
      if (missing.length > 0 || (opts.refresh && !freshEnough)) {
        const env = gitEnv(this.baseEnv, (await this.opts.credentials?.()) ?? null);
        fetchSeq.set(seqKey, (fetchSeq.get(seqKey) ?? 0) + 1);
        try {
          await this.git(['fetch', '--quiet', '--no-tags', '--prune', 'origin', refspec], { env });
        } catch (err) {
          // A deleted branch is not an error of the fetch itself; the missing commit check decides.
          const gone = err instanceof GitError && /couldn't find remote ref/i.test(err.stderr);
          const what = opts.branch ? `${opts.branch} of ${this.repoUrl}` : this.repoUrl;
          if (!gone && missing.length > 0) throw new Error(`fetching ${what}: ${(err as Error).message}`);
          if (!gone) this.opts.onRefreshFailure?.((err as Error).message);
        }
        if (opts.refs?.length && (await this.missingOf(missing)).length) {
          await this.git(['fetch', '--quiet', '--no-tags', 'origin', ...opts.refs.map((r) => `+${r}:${r}`)], { env })
            .catch((err: unknown) => this.opts.onRefreshFailure?.((err as Error).message));
        }
        for (const c of await this.missingOf(missing)) {
          await this.git(['fetch', '--quiet', '--no-tags', 'origin', c], { env }).catch(() => undefined);
        }
        missing = await this.missingOf(missing);
      }
      const head = !opts.branch ? null : await this.git(['rev-parse', '--verify', '--quiet', `refs/heads/${opts.branch}`])
        .then((b) => b.toString().trim(), () => null);
      return { missing, head };
    });
    if (result.missing.length && (opts.required ?? true)) {
      throw ApplicationFailure.nonRetryable(`fetching ${this.repoUrl}: commit ${result.missing.join(', ')} not found`, 'CommitNotFound');
    }
    return result;
  }

  /**
   * Extracts the repository at `commit` (fetched when missing) into `dest` (created): `git archive`
   * to a temporary tar file beside `dest`, then `tar -x`, in one `sh` (one child process, not two).
   */
  async checkout(commit: string, dest: string, refs: string[] = []): Promise<void> {
    await this.fetch([commit], refs.length ? { refs } : {});
    const script = 'git archive --format=tar -o "$1" "$2" && mkdir -p "$3" && tar -x -f "$1" -C "$3"; s=$?; rm -f "$1"; exit $s';
    const r = await execInHelper('sh', ['-c', script, 'checkout', `${dest}.tar`, commit, dest], { cwd: this.dir, env: gitEnv(this.baseEnv) });
    if (r.code !== 0 || r.error) {
      // Not kept as present: a retry checks (and fetches) again.
      present.delete(`${this.dir}\n${commit}`);
      throw new Error(`extracting ${this.repoUrl}@${commit.slice(0, 12)}: ${r.stderr.toString().trim() || r.error || `exit ${r.code}`}`);
    }
  }
}
