/**
 * Pure helpers over tofu's JSON: the summary of a plan (`tofu show -json`), the merge of unit states
 * into one state for the review plan, and outputs (`tofu output -json`).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { PlanCounts, ResourceChange, UnitOutput } from '../../workflows/model/terraform';

interface RawChange {
  address: string;
  mode: 'managed' | 'data';
  type: string;
  change: { actions: string[]; after?: unknown; after_unknown?: unknown; after_sensitive?: unknown };
}

interface RawPlan {
  resource_changes?: RawChange[];
  output_changes?: Record<string, { actions: string[] }>;
  errored?: boolean;
}

/**
 * Replaces the values marked sensitive with `(sensitive:<digest>)`: the value never leaves the worker
 * in an activity result, but two plans of the same run can still be compared for equality.
 */
export function maskSensitive(value: unknown, marks: unknown, digestKey: string): unknown {
  if (marks === true) {
    const d = createHmac('sha256', digestKey).update(JSON.stringify(value ?? null)).digest('hex').slice(0, 16);
    return `(sensitive:${d})`;
  }
  if (marks === null || typeof marks !== 'object' || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => maskSensitive(v, (marks as unknown[])[i], digestKey));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = maskSensitive(v, (marks as Record<string, unknown>)[k], digestKey);
  return out;
}

export interface PlanSummary {
  changes: ResourceChange[];
  counts: PlanCounts;
  /** Some managed resource or output changes (a saved plan worth applying). */
  hasChanges: boolean;
}

const isReplace = (a: string[]): boolean => a.length === 2 && a.includes('delete') && a.includes('create');

export function summarizePlan(planJson: string, digestKey: string): PlanSummary {
  const plan = JSON.parse(planJson) as RawPlan;
  const counts: PlanCounts = { add: 0, change: 0, destroy: 0, replace: 0 };
  const changes: ResourceChange[] = [];
  let hasChanges = false;
  for (const rc of plan.resource_changes ?? []) {
    const actions = rc.change.actions;
    changes.push({
      address: rc.address,
      mode: rc.mode,
      type: rc.type,
      actions,
      after: maskSensitive(rc.change.after ?? null, rc.change.after_sensitive, digestKey),
      afterUnknown: rc.change.after_unknown ?? {},
    });
    if (rc.mode !== 'managed') continue;
    if (isReplace(actions)) counts.replace++;
    else if (actions.length === 1 && actions[0] === 'create') counts.add++;
    else if (actions.length === 1 && actions[0] === 'update') counts.change++;
    else if (actions.length === 1 && actions[0] === 'delete') counts.destroy++;
    if (actions.some((a) => a !== 'no-op' && a !== 'read')) hasChanges = true;
  }
  for (const oc of Object.values(plan.output_changes ?? {})) if (oc.actions.some((a) => a !== 'no-op')) hasChanges = true;
  return { changes, counts, hasChanges };
}

export function parseOutputs(outputJson: string): Record<string, UnitOutput> {
  const raw = JSON.parse(outputJson || '{}') as Record<string, { value: unknown; sensitive?: boolean; type?: unknown }>;
  const out: Record<string, UnitOutput> = {};
  for (const [k, v] of Object.entries(raw)) {
    out[k] = { value: v.value, sensitive: v.sensitive === true, ...(v.type !== undefined ? { type: v.type } : {}) };
  }
  return out;
}

/**
 * The root outputs recorded in a state file, in `tofu output -json`'s shape, or undefined when the
 * text is not a plain version 4 state (an OpenTofu-encrypted state, say): then ask tofu instead.
 */
export function outputsFromState(stateJson: string): Record<string, UnitOutput> | undefined {
  let s: { version?: unknown; outputs?: unknown };
  try {
    s = JSON.parse(stateJson) as typeof s;
  } catch {
    return undefined;
  }
  if (s.version !== 4 || typeof s.outputs !== 'object' || s.outputs === null || Array.isArray(s.outputs)) return undefined;
  return parseOutputs(JSON.stringify(s.outputs));
}

interface StateV4 {
  version: number;
  terraform_version?: string;
  resources?: unknown[];
  check_results?: unknown;
}

/**
 * Unit states merged into one state of the original root: unit roots call the original module blocks
 * under the same names and copy root resources as they are, so resource addresses already match.
 * Outputs are dropped (the original root computes its own), lineage is fresh, serial 1.
 */
export function mergeStates(states: Array<{ unit: string; json: string }>): string {
  const resources: unknown[] = [];
  let tfVersion = '';
  for (const s of states) {
    let st: StateV4;
    try {
      st = JSON.parse(s.json) as StateV4;
    } catch (e) {
      throw new Error(`merging unit states: the state of unit ${s.unit} is not JSON: ${(e as Error).message}`);
    }
    if (st.version !== 4) throw new Error(`merging unit states: the state of unit ${s.unit} has format version ${st.version}, expected 4`);
    if (st.terraform_version && tfVersion === '') tfVersion = st.terraform_version;
    resources.push(...(st.resources ?? []));
  }
  return JSON.stringify({ version: 4, terraform_version: tfVersion || '1.0.0', serial: 1, lineage: randomUUID(), outputs: {}, resources, check_results: null }, null, 2);
}
