/**
 * Activities act in the account of their workflow. A worker serves one Temporal namespace per
 * Worker, and a namespace belongs to one account (its own Transit key): an activity whose input or
 * result names an `accountId` (a registry change, a run's context read from its state, an event) of
 * an account of another namespace fails, non-retryable, before or instead of acting. Only someone
 * with direct access to Temporal could start such a workflow; this keeps them from reaching another
 * account's rows through it.
 */
import { ApplicationFailure } from '@temporalio/common';

/** `accountId` fields of a value and of the objects directly inside it (`ctx.accountId`, `ref.accountId`). */
function accountIdsIn(v: unknown): string[] {
  if (!v || typeof v !== 'object') return [];
  const out: string[] = [];
  const o = v as Record<string, unknown>;
  if (typeof o.accountId === 'string') out.push(o.accountId);
  for (const inner of Object.values(o)) {
    if (inner && typeof inner === 'object' && !Array.isArray(inner) && typeof (inner as Record<string, unknown>).accountId === 'string') {
      out.push((inner as Record<string, string>).accountId);
    }
  }
  return out;
}

export interface AccountGuard {
  namespace: string;
  /** The ids of the accounts whose namespace this is (read from Postgres). */
  accountsOf(namespace: string): Promise<string[]>;
  /** How long the answer is reused (default 30 s); an unknown id is always looked up again. */
  cacheMs?: number;
}

export function guardAccounts<T extends object>(activities: T, g: AccountGuard): T {
  let known: { ids: Set<string>; at: number } | undefined;
  const allowed = async (id: string): Promise<boolean> => {
    if (known && known.ids.has(id) && Date.now() - known.at < (g.cacheMs ?? 30_000)) return true;
    known = { ids: new Set(await g.accountsOf(g.namespace)), at: Date.now() };
    return known.ids.has(id);
  };
  const check = async (name: string, v: unknown) => {
    for (const id of accountIdsIn(v)) {
      if (!(await allowed(id))) {
        throw ApplicationFailure.nonRetryable(`${name}: account ${id} is not an account of namespace ${g.namespace}`, 'AccountNotInNamespace');
      }
    }
  };
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities as Record<string, unknown>)) {
    if (typeof fn !== 'function') {
      out[name] = fn;
      continue;
    }
    out[name] = async (...args: unknown[]) => {
      for (const a of args) await check(name, a);
      const result: unknown = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      await check(name, result);
      return result;
    };
  }
  return out as T;
}
