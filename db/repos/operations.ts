/** operations: plans, applies, destroys and drift checks (written by the run workflows; read here). */
import type { DbOrTx } from '../index';
import type { Operation } from '../tables/operations';
import { decodeCursor, toPage, type Page, type PageRequest } from './pagination';
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
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    q = q.where((eb) => eb.or([
      eb('operations.started_at', '<', new Date(c.t)),
      eb.and([eb('operations.started_at', '=', new Date(c.t)), eb('operations.id', '<', c.id)]),
    ]));
  }
  const rows = await q.orderBy('operations.started_at', 'desc').orderBy('operations.id', 'desc').limit(page.limit + 1).execute();
  return toPage(rows, page.limit, (r) => ({ t: r.started_at.toISOString(), id: r.id }));
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
