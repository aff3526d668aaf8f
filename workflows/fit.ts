/**
 * Does a unit's plan, made just before its apply with its upstreams' real outputs, fit the changes a
 * human approved in the review plan? (README.md, "Runs, workers and recovery".)
 *
 * It fits when it changes the same managed resources with the same actions, and every value that was
 * known at review is equal now; values that were unknown at review ("known after apply") may be
 * anything. Pure and sandbox-safe.
 */
import type { ResourceChange } from './model/terraform';

export interface FitProblem {
  address: string;
  reason: string;
}

export interface FitResult {
  fits: boolean;
  problems: FitProblem[];
}

const isChange = (c: ResourceChange): boolean =>
  c.mode === 'managed' && !(c.actions.length === 1 && (c.actions[0] === 'no-op' || c.actions[0] === 'read'));

/** Whether `address` belongs to a unit holding `members` (module calls, resources, data sources). */
export function belongsTo(address: string, members: readonly string[]): boolean {
  return members.some((m) => address === m || address.startsWith(`${m}.`) || address.startsWith(`${m}[`));
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths where `now` differs from `then`, skipping paths marked unknown in `unknown` (review's after_unknown). */
function differences(then: unknown, now: unknown, unknown: unknown, path: string, out: string[]): void {
  if (unknown === true) return;
  if (Array.isArray(then) && Array.isArray(now)) {
    if (then.length !== now.length && !Array.isArray(unknown)) {
      out.push(`${path || '(value)'}: reviewed ${then.length} elements, now ${now.length}`);
      return;
    }
    const n = Math.max(then.length, now.length);
    for (let i = 0; i < n; i++) differences(then[i], now[i], Array.isArray(unknown) ? unknown[i] : undefined, `${path}[${i}]`, out);
    return;
  }
  if (isObj(then) && isObj(now)) {
    for (const k of new Set([...Object.keys(then), ...Object.keys(now)])) {
      differences(then[k], now[k], isObj(unknown) ? unknown[k] : undefined, path ? `${path}.${k}` : k, out);
    }
    return;
  }
  if (JSON.stringify(then) !== JSON.stringify(now)) {
    out.push(`${path || '(value)'}: reviewed ${JSON.stringify(then)}, now ${JSON.stringify(now)}`);
  }
}

export interface FitOptions {
  /**
   * The unit is planned again after its apply was interrupted (its worker died): an approved change
   * that is no longer planned was already applied by the interrupted attempt (the state now matches
   * the configuration), so only what is still planned must fit. New or different changes still do not.
   */
  resumed?: boolean;
}

export function checkFit(reviewed: readonly ResourceChange[], planned: readonly ResourceChange[], members: readonly string[], opts: FitOptions = {}): FitResult {
  const problems: FitProblem[] = [];
  const approved = new Map(reviewed.filter((c) => isChange(c) && belongsTo(c.address, members)).map((c) => [c.address, c]));
  const now = new Map(planned.filter(isChange).map((c) => [c.address, c]));
  for (const [address, c] of now) {
    const a = approved.get(address);
    if (!a) {
      problems.push({ address, reason: `planned ${c.actions.join('+')} was not in the reviewed plan` });
      continue;
    }
    if (a.actions.join('+') !== c.actions.join('+')) {
      problems.push({ address, reason: `reviewed as ${a.actions.join('+')}, now planned as ${c.actions.join('+')}` });
      continue;
    }
    const diffs: string[] = [];
    differences(a.after, c.after, a.afterUnknown, '', diffs);
    for (const d of diffs) problems.push({ address, reason: `value known at review changed: ${d}` });
  }
  for (const [address, a] of approved) {
    if (!now.has(address) && !opts.resumed) problems.push({ address, reason: `reviewed ${a.actions.join('+')} is no longer planned` });
  }
  problems.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
  return { fits: problems.length === 0, problems };
}
