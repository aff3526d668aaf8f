/**
 * A stack's code at a commit, on an execution worker: the repository checked out of the worker's git
 * mirror (activities/git-mirror.ts) into a job directory or into one shared read-only checkout per
 * commit, and the stack's analysis (stack.hcl + root module → structure, call graph, units), parsed
 * once per worker and used by every activity that needs it (analyzeStack, evaluateOutputs, and the
 * plan and apply of every unit). One StackCode per worker: createExecutionActivities makes it and
 * gives it to each activity group.
 *
 * The whole repository is extracted, because local module sources may point anywhere inside it
 * (git_cache holds only stack directories and policies, see activities/git.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { analyzeStackDir, type StackAnalysis } from '../hcl/analyze';
import { checkLocalSources } from '../hcl/sources';
import type { GitCredentials } from '../../common/secret-box';
import { GitMirror } from '../git-mirror';
import type { StackSource } from '../../workflows/model/terraform';

export interface StackCodeDeps {
  /** The worker's own directory: shared checkouts go to `<workDir>/checkouts/`. */
  workDir: string;
  /** The worker's git mirrors (default `<workDir>/git`). */
  gitDir?: string;
  /** The environment git takes PATH, HOME, proxies from (default: this process's). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Clone credentials of a registered repository (`source.repositoryId`), as the control worker resolves them. */
  credentialsFor?: (repositoryId: string) => Promise<GitCredentials | null>;
  /** Analyses kept (least recently used first out); default 16. */
  maxAnalyses?: number;
}

export interface Checkout {
  repoRoot: string;
  stackRoot: string;
}

export interface StackCode {
  /** Extracts the repository at `source.commit` into `dest` (created), fetching the commit when missing. */
  checkout(source: StackSource, dest: string): Promise<void>;
  /**
   * The repository at a commit, extracted once per worker under `<workDir>/checkouts/` and shared
   * read-only by the activities that only read code (analysis, policies).
   */
  sharedCheckout(source: StackSource): Promise<Checkout>;
  /**
   * The stack's analysis at `source`, with its local module sources checked against the repository;
   * `at` is a checkout of that commit, read only when this worker has not analysed it yet. Callers
   * asking at the same time share one parse; a failed analysis is not kept (the next caller tries
   * again). The analysis holds no paths of the directory it was read from, so it serves any
   * checkout of the same commit; callers must not mutate it.
   */
  analysis(source: StackSource, at: Checkout): Promise<StackAnalysis>;
}

export function createStackCode(deps: StackCodeDeps): StackCode {
  const gitDir = deps.gitDir ?? join(deps.workDir, 'git');
  const mirrorOf = (source: StackSource): GitMirror => new GitMirror(gitDir, source.repoUrl, {
    ...(deps.baseEnv ? { baseEnv: deps.baseEnv } : {}),
    credentials: async () => (source.repositoryId && deps.credentialsFor ? deps.credentialsFor(source.repositoryId) : null),
  });
  const max = deps.maxAnalyses ?? 16;
  const analyses = new Map<string, Promise<StackAnalysis>>();

  const checkout = (source: StackSource, dest: string): Promise<void> => mirrorOf(source).checkout(source.commit, dest, source.ref ? [source.ref] : []);

  return {
    checkout,

    async sharedCheckout(source) {
      const id = createHash('sha256').update(`${source.repoUrl}\n${source.commit}`).digest('hex').slice(0, 24);
      const repoRoot = join(deps.workDir, 'checkouts', id);
      if (!existsSync(repoRoot)) {
        // Extracted beside and renamed into place: concurrent activities never see half a checkout.
        const tmp = `${repoRoot}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
        mkdirSync(dirname(repoRoot), { recursive: true });
        await checkout(source, tmp);
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
    },

    analysis(source, at) {
      const k = JSON.stringify([source.repoUrl, source.commit, source.stackPath]);
      const hit = analyses.get(k);
      if (hit) {
        analyses.delete(k);
        analyses.set(k, hit);
        return hit;
      }
      const p = (async () => {
        const a = await analyzeStackDir(at.stackRoot);
        await checkLocalSources(at.repoRoot, at.stackRoot, a.structure);
        return a;
      })();
      analyses.set(k, p);
      p.catch(() => {
        if (analyses.get(k) === p) analyses.delete(k);
      });
      while (analyses.size > max) analyses.delete(analyses.keys().next().value!);
      return p;
    },
  };
}
