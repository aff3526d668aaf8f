/**
 * login_requests: sign-ins in progress (api/auth/sign-in.ts), kept in Postgres so that any api
 * instance can finish one. The state is claimed once by the callback (completed_at), a command line's
 * poll collects the result once (consumed_at).
 */
import { sql, type Selectable } from 'kysely';
import type { DbOrTx } from '../index';
import type { LoginRequestsTable } from '../tables/people';

export type LoginRequest = Selectable<LoginRequestsTable>;

export async function insertLoginRequest(db: DbOrTx, r: {
  state: string; provider: string; codeVerifier: string; nonce: string | null; cliPollHash: string | null; cliCode: string | null; expiresAt: Date;
}): Promise<void> {
  await db.insertInto('login_requests').values({
    state: r.state, provider: r.provider, code_verifier: r.codeVerifier, nonce: r.nonce, cli_poll_hash: r.cliPollHash, cli_code: r.cliCode, expires_at: r.expiresAt,
  }).execute();
  // Old sign-ins are of no use to anyone: drop those expired for a day.
  await db.deleteFrom('login_requests').where('expires_at', '<', sql<Date>`now() - interval '1 day'`).execute();
}

export async function getLoginRequest(db: DbOrTx, state: string): Promise<LoginRequest | undefined> {
  return db.selectFrom('login_requests').selectAll().where('state', '=', state).executeTakeFirst();
}

export async function getLoginRequestByPollHash(db: DbOrTx, pollHash: string): Promise<LoginRequest | undefined> {
  return db.selectFrom('login_requests').selectAll().where('cli_poll_hash', '=', pollHash).executeTakeFirst();
}

/** The callback's claim of a state: true for the first caller only (a replayed callback gets false). */
export async function claimLoginRequest(db: DbOrTx, state: string): Promise<boolean> {
  const r = await db.updateTable('login_requests').set({ completed_at: sql<Date>`now()` })
    .where('state', '=', state).where('completed_at', 'is', null).where('expires_at', '>', sql<Date>`now()`).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Records who signed in through this request (and, for a command line's, the browser that may confirm it). */
export async function setLoginRequestUser(db: DbOrTx, state: string, userId: string, browserHash: string | null = null): Promise<void> {
  await db.updateTable('login_requests').set({ user_id: userId, cli_browser_hash: browserHash }).where('state', '=', state).execute();
}

/** A command line's sign-in refused at the browser (a wrong code): closed, and its user forgotten. */
export async function cancelLoginRequest(db: DbOrTx, state: string): Promise<void> {
  await db.updateTable('login_requests').set({ consumed_at: sql<Date>`now()`, user_id: null }).where('state', '=', state).where('consumed_at', 'is', null).execute();
}

/** The browser's confirmation of a command line's sign-in: true for the first only. */
export async function confirmLoginRequest(db: DbOrTx, state: string): Promise<boolean> {
  const r = await db.updateTable('login_requests').set({ cli_confirmed_at: sql<Date>`now()` })
    .where('state', '=', state).where('cli_confirmed_at', 'is', null).where('user_id', 'is not', null).where('consumed_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A claimed sign-in that failed: closed without a user (the command line's poll then says so). */
export async function failLoginRequest(db: DbOrTx, state: string): Promise<void> {
  await db.updateTable('login_requests').set({ consumed_at: sql<Date>`now()` }).where('state', '=', state).where('user_id', 'is', null).execute();
}

/** The poll's collection of a finished sign-in: true for the first caller only. */
export async function consumeLoginRequest(db: DbOrTx, state: string): Promise<boolean> {
  const r = await db.updateTable('login_requests').set({ consumed_at: sql<Date>`now()` })
    .where('state', '=', state).where('consumed_at', 'is', null).where('user_id', 'is not', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
