/**
 * refresh_tokens: opaque refresh tokens of signed-in users, stored only as SHA-256. Each is used once:
 * using it makes a successor (replaced_by) with the same end of the sign-in; using a replaced one
 * again means it was copied, and the whole chain from it on is revoked.
 */
import { sql } from 'kysely';
import type { DbOrTx, Tx } from '../index';
import type { RefreshTokensTable } from '../tables/people';
import type { Selectable } from 'kysely';

export type RefreshToken = Selectable<RefreshTokensTable>;

export async function insertRefreshToken(db: DbOrTx, t: { userId: string; hash: string; expiresAt: Date }): Promise<RefreshToken> {
  return db.insertInto('refresh_tokens').values({ user_id: t.userId, hash: t.hash, expires_at: t.expiresAt })
    .returningAll().executeTakeFirstOrThrow();
}

export async function findRefreshTokenByHash(db: DbOrTx, hash: string): Promise<RefreshToken | undefined> {
  return db.selectFrom('refresh_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
}

/** The token with this hash, locked for the rest of the transaction (one rotation at a time). */
export async function lockRefreshTokenByHash(tx: Tx, hash: string): Promise<RefreshToken | undefined> {
  return tx.selectFrom('refresh_tokens').selectAll().where('hash', '=', hash).forUpdate().executeTakeFirst();
}

export async function markRefreshTokenReplaced(tx: Tx, id: string, replacedBy: string): Promise<void> {
  await tx.updateTable('refresh_tokens').set({ replaced_by: replacedBy }).where('id', '=', id).execute();
}

/** Revokes the token and every successor it was rotated into; returns how many were still live. */
export async function revokeRefreshChain(db: DbOrTx, id: string): Promise<number> {
  const r = await sql<{ n: string }>`
    with recursive chain(id, replaced_by) as (
      select id, replaced_by from refresh_tokens where id = ${id}
      union
      select t.id, t.replaced_by from refresh_tokens t join chain c on t.id = c.replaced_by
    )
    , revoked as (
      update refresh_tokens set revoked_at = now() where id in (select id from chain) and revoked_at is null returning id
    )
    select count(*)::text as n from revoked`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}
