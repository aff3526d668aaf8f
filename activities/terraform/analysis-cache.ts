/**
 * A worker's memo of stack analyses (stack.hcl + root module → structure, call graph, units), keyed
 * by (repository URL, commit, stack path). The code at a commit never changes, so the two activities
 * of every unit of a run (plan and apply) need not parse the whole root module again: with six units
 * in parallel those parses queued on the worker's one JavaScript thread (bench/runs.ts measured it).
 *
 * Callers asking at the same time share one parse. A failed analysis is not kept (the next caller
 * tries again). The least recently used entry goes first beyond `max`. The analysis holds no paths
 * of the directory it was read from, so it serves any job directory extracted from the same commit;
 * callers must not mutate it.
 */
import type { StackAnalysis } from '../hcl/analyze';

export interface AnalysisKey {
  repoUrl: string;
  commit: string;
  stackPath: string;
}

export interface AnalysisCache {
  get(key: AnalysisKey, analyse: () => Promise<StackAnalysis>): Promise<StackAnalysis>;
}

export function createAnalysisCache(max = 16): AnalysisCache {
  const entries = new Map<string, Promise<StackAnalysis>>();
  return {
    get(key, analyse) {
      const k = JSON.stringify([key.repoUrl, key.commit, key.stackPath]);
      const hit = entries.get(k);
      if (hit) {
        entries.delete(k);
        entries.set(k, hit);
        return hit;
      }
      const p = analyse();
      entries.set(k, p);
      p.catch(() => {
        if (entries.get(k) === p) entries.delete(k);
      });
      while (entries.size > max) entries.delete(entries.keys().next().value!);
      return p;
    },
  };
}
