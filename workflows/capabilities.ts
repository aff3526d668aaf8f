/**
 * Capability labels → task queue, and matching a stack's requirements against workers.
 * Pure and sandbox-safe: used by execution workers (to pick the queue they poll), by the routing
 * activity, and by workflow code (to describe why a run waits).
 */

export interface Requirement {
  features: string[];
  labels: Record<string, string>;
}

export interface Capabilities extends Requirement {
  resources?: { cpus?: number; memoryMb?: number };
  version?: string;
}

function canonicalLabels(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/**
 * The task queue of an execution worker: a readable canonical form of its features and labels, so
 * workers with the same capability set share one queue (Stackly scales by adding workers) and the
 * queue name in the Web UI says what it is for.
 */
export function taskQueueFor(caps: Requirement): string {
  const features = [...new Set(caps.features)].sort().join(',');
  return `stackly-exec/features=${features}/labels=${canonicalLabels(caps.labels)}`;
}

/** A worker can run a stack when it carries every required feature and every required label value. */
export function satisfies(worker: Requirement, required: Requirement): boolean {
  return (
    required.features.every((f) => worker.features.includes(f)) &&
    Object.entries(required.labels).every(([k, v]) => worker.labels[k] === v)
  );
}

export function describeRequirement(r: Requirement): string {
  return `features=[${[...r.features].sort().join(', ')}], labels={${canonicalLabels(r.labels)}}`;
}

/** The reason shown while a run waits for a worker. */
export function noWorkerReason(r: Requirement): string {
  return `no live worker with ${describeRequirement(r)}`;
}
