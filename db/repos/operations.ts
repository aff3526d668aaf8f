/** operations: plans, applies, destroys and drift checks (written by the run workflows; read here). */
import type { DbOrTx } from '../index';
import type { Operation } from '../tables/operations';
import { keysetPage, type Page, type PageRequest } from './pagination';
import { isUuid } from './stack-codes';

/** Operations of the account's states (operations carry no account id: joined through the state). */
export async function listOperations(
  db: DbOrTx,
  accountId: string,
  filter: { stackStateId?: string },
  page: PageRequest,
): Promise<Page<Operation>> {
  let q = db
    .selectFrom('operations')
    .innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .selectAll('operations')
    .where('stack_states.account_id', '=', accountId);
  if (filter.stackStateId) q = q.where('operations.stack_state_id', '=', filter.stackStateId);
  return keysetPage(q, page, { time: 'started_at', table: 'operations' });
}

export async function getOperation(db: DbOrTx, accountId: string, id: string): Promise<Operation | undefined> {
  if (!isUuid(id)) return undefined;
  return db
    .selectFrom('operations')
    .innerJoin('stack_states', 'stack_states.id', 'operations.stack_state_id')
    .selectAll('operations')
    .where('stack_states.account_id', '=', accountId)
    .where('operations.id', '=', id)
    .executeTakeFirst();
}
