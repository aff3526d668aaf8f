/**
 * The stack's code at a commit, on an execution worker: a bare mirror per repository URL under the
 * worker's work dir, fetched when the commit is missing, and `git archive <commit>` extracted into a
 * fresh directory. The whole repository is extracted, because local module sources may point
 * anywhere inside it (git_cache holds only stack directories and policies, see activities/git.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execInHelper } from '../../common/spawner';

const COMMIT_RE = /^[0-9a-f]{40}$/;

const gitEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' });

/** git through the helper process (see common/spawner.ts: no fork from the worker itself). */
async function git(args: string[], cwd?: string): Promise<string> {
  const r = await execInHelper('git', args, { cwd, env: gitEnv(), maxBuffer: 16 * 1024 * 1024 });
  if (r.code !== 0 || r.error) throw new Error(`git ${args[0]}: ${r.stderr.toString().trim() || r.error || `exit ${r.code}`}`);
  return r.stdout.toString();
}

/** Serialises fetches into one mirror within this process. */
const tails = new Map<string, Promise<unknown>>();
function serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  tails.set(key, next.catch(() => undefined));
  return next;
}

export function mirrorDir(gitDir: string, repoUrl: string): string {
  return join(gitDir, `${createHash('sha256').update(repoUrl).digest('hex').slice(0, 24)}.git`);
}

async function hasCommit(dir: string, commit: string): Promise<boolean> {
  return git(['cat-file', '-e', `${commit}^{commit}`], dir).then(() => true, () => false);
}

/**
 * Commits this process has seen in a mirror (`<mirror>\n<commit>`), so the unit activities of a run
 * do not ask git again each time: every child process a worker spawns blocks its JavaScript thread
 * until the child has started, which under load costs tens of milliseconds (bench/runs.ts). An
 * extraction that fails forgets the commit, so a retry checks (and fetches) again.
 */
const present = new Set<string>();

/** Makes sure the mirror of `repoUrl` holds `commit`; returns the mirror's directory. */
export async function ensureCommit(gitDir: string, repoUrl: string, commit: string): Promise<string> {
  if (!COMMIT_RE.test(commit)) throw ApplicationFailure.nonRetryable(`materializing ${repoUrl}: "${commit}" is not a commit hash`, 'InvalidInput');
  const dir = mirrorDir(gitDir, repoUrl);
  if (present.has(`${dir}\n${commit}`)) return dir;
  return serial(dir, async () => {
    if (!existsSync(join(dir, 'HEAD'))) {
      mkdirSync(dir, { recursive: true });
      await git(['init', '--bare', '--quiet', dir]);
      await git(['remote', 'add', 'origin', repoUrl], dir).catch(() => undefined);
    }
    if (await hasCommit(dir, commit)) {
      present.add(`${dir}\n${commit}`);
      return dir;
    }
    try {
      await git(['fetch', '--quiet', '--no-tags', 'origin', '+refs/heads/*:refs/heads/*'], dir);
    } catch (e) {
      throw new Error(`fetching ${repoUrl}: ${(e as Error).message}`);
    }
    if (!(await hasCommit(dir, commit))) {
      // Not on any branch any more (force push): ask for the commit itself.
      await git(['fetch', '--quiet', '--no-tags', 'origin', commit], dir).catch(() => undefined);
    }
    if (!(await hasCommit(dir, commit))) throw ApplicationFailure.nonRetryable(`fetching ${repoUrl}: commit ${commit} not found`, 'CommitNotFound');
    present.add(`${dir}\n${commit}`);
    return dir;
  });
}

/**
 * Extracts the repository at `commit` into `dest` (created): `git archive` to a temporary tar file
 * beside `dest`, then `tar -x`, both in one `sh` (one child process of the worker instead of two).
 */
export async function materialize(gitDir: string, repoUrl: string, commit: string, dest: string): Promise<void> {
  const dir = await ensureCommit(gitDir, repoUrl, commit);
  const script = 'git archive --format=tar -o "$1" "$2" && mkdir -p "$3" && tar -x -f "$1" -C "$3"; s=$?; rm -f "$1"; exit $s';
  const r = await execInHelper('sh', ['-c', script, 'materialize', `${dest}.tar`, commit, dest], { cwd: dir, env: gitEnv() });
  if (r.code !== 0 || r.error) {
    present.delete(`${dir}\n${commit}`);
    throw new Error(`extracting ${repoUrl}@${commit.slice(0, 12)}: ${r.stderr.toString().trim() || r.error || `exit ${r.code}`}`);
  }
}

/**
 * The repository at a commit, extracted once per worker under `<workDir>/checkouts/` and shared
 * read-only by the activities that only read code (analysis, policies). Extraction goes to a
 * temporary directory renamed into place, so concurrent activities never see half a checkout.
 */
export async function sharedCheckout(
  workDir: string, gitDir: string, source: { repoUrl: string; commit: string; stackPath: string },
): Promise<{ repoRoot: string; stackRoot: string }> {
  const id = createHash('sha256').update(`${source.repoUrl}\n${source.commit}`).digest('hex').slice(0, 24);
  const repoRoot = join(workDir, 'checkouts', id);
  if (!existsSync(repoRoot)) {
    const tmp = `${repoRoot}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    mkdirSync(dirname(repoRoot), { recursive: true });
    await materialize(gitDir, source.repoUrl, source.commit, tmp);
    try {
      renameSync(tmp, repoRoot);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another activity got there first
    }
  }
  const stackRoot = resolve(repoRoot, source.stackPath || '.');
  if (stackRoot !== repoRoot && !stackRoot.startsWith(`${repoRoot}/`)) {
    throw ApplicationFailure.nonRetryable(`stack path ${source.stackPath} escapes the repository`, 'InvalidInput');
  }
  return { repoRoot, stackRoot };
}
