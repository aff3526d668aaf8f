/**
 * Worker pools bound server-side (issue 15). A pool is the value of the `pool` label execution
 * workers register with; an admin binds a repository (or a whole account) to the pools its stacks may
 * use (`PUT /api/worker-pools/bindings`). The rule, applied by routing (the control worker) and again
 * by the execution worker before it runs tofu (fails closed):
 *
 * - a worker without a `pool` label is shared: any stack may run there;
 * - a worker of pool P runs only stacks whose repository is bound to P (the repository's own
 *   bindings, else its account's); an unbound repository reaches no pooled worker;
 * - a stack's `requires` may name `pool = "P"` only for a pool it is bound to: `requires` narrows
 *   within the binding, never widens it.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DbOrTx } from '../db';
import { getStateForRun } from '../db/repos/stack-states';
import { boundPools } from '../db/repos/worker-pool-bindings';
import { getAccountById } from '../db/repos/accounts';

export const POOL_LABEL = 'pool';

export interface Binding {
  pools: string[];
  source: 'repository' | 'account' | 'none';
}

/** The binding of the stack whose state this is, or undefined when the state does not exist. */
export async function bindingOfState(db: DbOrTx, stateId: string): Promise<(Binding & { accountId: string; repositoryId: string | null }) | undefined> {
  const s = await getStateForRun(db, stateId);
  if (!s) return undefined;
  return { ...(await boundPools(db, s.accountId, s.repositoryId)), accountId: s.accountId, repositoryId: s.repositoryId };
}

const describe = (b: Binding): string => (b.source === 'none'
  ? 'its repository is bound to no worker pool (only workers without a pool label)'
  : `its ${b.source} is bound to pool${b.pools.length > 1 ? 's' : ''} ${b.pools.join(', ')}`);

/** May a worker with these labels run this stack? undefined when it may, else why not. */
export function poolProblem(workerLabels: Readonly<Record<string, string>>, b: Binding): string | undefined {
  const pool = workerLabels[POOL_LABEL];
  if (pool === undefined) return undefined;
  if (b.pools.includes(pool)) return undefined;
  return `worker pool ${pool} is not bound to this stack: ${describe(b)}`;
}

/** Does the stack's requirement ask for a pool outside its binding? */
export function requirementProblem(labels: Readonly<Record<string, string>>, b: Binding): string | undefined {
  const want = labels[POOL_LABEL];
  if (want === undefined || b.pools.includes(want)) return undefined;
  return `the stack requires pool ${want}, but ${describe(b)}; an admin binds pools with PUT /api/worker-pools/bindings`;
}

/**
 * The execution worker's own check, before it runs tofu for a run's state: a pooled worker refuses a
 * stack outside its binding, and any worker refuses a state of another namespace's account.
 */
export function createPoolGuard(o: { db: DbOrTx; labels: Readonly<Record<string, string>>; namespace?: string }): (stateId: string, what: string) => Promise<void> {
  return async (stateId, what) => {
    if (o.labels[POOL_LABEL] === undefined) return;
    const b = await bindingOfState(o.db, stateId);
    if (!b) throw ApplicationFailure.nonRetryable(`${what}: state ${stateId} does not exist; refused by pool ${o.labels[POOL_LABEL]}`, 'PoolNotBound');
    if (o.namespace !== undefined) {
      const account = await getAccountById(o.db, b.accountId);
      if (account?.temporal_namespace !== o.namespace) throw ApplicationFailure.nonRetryable(`${what}: state ${stateId} is not of namespace ${o.namespace}; refused`, 'PoolNotBound');
    }
    const problem = poolProblem(o.labels, b);
    if (problem) throw ApplicationFailure.nonRetryable(`${what}: refused by this worker: ${problem}`, 'PoolNotBound');
  };
}
