/** stack_codes: one live row per stack directory (repo_url, repo_path); de-registered rows stay as history. */
import type { DbOrTx, Tx } from '../index';
import type { StackCode, StackCodeStatus } from '../tables/stack-codes';
import { keysetPage, type Page, type PageRequest } from './pagination';

/** A stack code by id, locked for update. */
export async function lockStackCode(tx: Tx, id: string): Promise<StackCode | undefined> {
  return tx.selectFrom('stack_codes').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The live (active or invalid) stack code of a directory, locked for update. */
export async function lockLiveStackCode(tx: Tx, repoUrl: string, repoPath: string): Promise<StackCode | undefined> {
  return tx
    .selectFrom('stack_codes')
    .selectAll()
    .where('repo_url', '=', repoUrl)
    .where('repo_path', '=', repoPath)
    .where('status', '<>', 'deregistered')
    .forUpdate()
    .executeTakeFirst();
}

export interface StackCodeValues {
  accountId: string;
  repositoryId: string | null;
  repoUrl: string;
  repoPath: string;
  name: string;
  commit: string;
  config: unknown;
  status: StackCodeStatus;
  error: unknown | null;
}

export async function insertStackCode(db: DbOrTx, v: StackCodeValues): Promise<StackCode> {
  return db
    .insertInto('stack_codes')
    .values({
      account_id: v.accountId,
      repository_id: v.repositoryId,
      repo_url: v.repoUrl,
      repo_path: v.repoPath,
      name: v.name,
      current_commit: v.commit,
      config: JSON.stringify(v.config),
      status: v.status,
      error: v.error === null ? null : JSON.stringify(v.error),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateStackCode(
  db: DbOrTx,
  id: string,
  v: { name?: string; repoPath?: string; commit?: string; config?: unknown; status: StackCodeStatus; error: unknown | null },
): Promise<StackCode> {
  return db
    .updateTable('stack_codes')
    .set({
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.repoPath !== undefined ? { repo_path: v.repoPath } : {}),
      ...(v.commit !== undefined ? { current_commit: v.commit } : {}),
      ...(v.config !== undefined ? { config: JSON.stringify(v.config) } : {}),
      status: v.status,
      error: v.error === null ? null : JSON.stringify(v.error),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Live stack codes (active and invalid) of a repository. */
export async function listLiveStackCodesOfRepo(db: DbOrTx, repoUrl: string): Promise<StackCode[]> {
  return db
    .selectFrom('stack_codes')
    .selectAll()
    .where('repo_url', '=', repoUrl)
    .where('status', '<>', 'deregistered')
    .orderBy('repo_path')
    .execute();
}

export async function getStackCode(db: DbOrTx, accountId: string, id: string): Promise<StackCode | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('stack_codes').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export interface StackCodeFilter {
  repositoryId?: string;
  status?: StackCodeStatus;
}

export async function listStackCodes(db: DbOrTx, accountId: string, filter: StackCodeFilter, page: PageRequest): Promise<Page<StackCode>> {
  let q = db.selectFrom('stack_codes').selectAll().where('account_id', '=', accountId);
  if (filter.repositoryId) q = q.where('repository_id', '=', filter.repositoryId);
  if (filter.status) q = q.where('status', '=', filter.status);
  return keysetPage(q, page, { time: 'created_at' });
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/**
 * For each directory of the repository without a live stack code, its most recently de-registered
 * one, with the commit that de-registered it (from its `module_deregistered` event).
 */
export async function listLatestDeregisteredOfRepo(db: DbOrTx, repoUrl: string): Promise<Array<StackCode & { deregistered_commit: string | null }>> {
  const rows = await db
    .selectFrom('stack_codes')
    .selectAll()
    .distinctOn('repo_path')
    .where('repo_url', '=', repoUrl)
    .where('status', '=', 'deregistered')
    .where(({ not, exists, selectFrom }) => not(exists(
      selectFrom('stack_codes as live').select('live.id')
        .whereRef('live.repo_url', '=', 'stack_codes.repo_url')
        .whereRef('live.repo_path', '=', 'stack_codes.repo_path')
        .where('live.status', '<>', 'deregistered'),
    )))
    .orderBy('repo_path')
    .orderBy('updated_at', 'desc')
    .execute();
  if (rows.length === 0) return [];
  const events = await db
    .selectFrom('events')
    .select(['stack_code_id', 'payload'])
    .where('type', '=', 'module_deregistered')
    .where('stack_code_id', 'in', rows.map((r) => r.id))
    .orderBy('id', 'desc')
    .execute();
  const commitOf = new Map<string, string>();
  for (const e of events) {
    const c = (e.payload as { commit?: unknown } | null)?.commit;
    if (e.stack_code_id && typeof c === 'string' && !commitOf.has(e.stack_code_id)) commitOf.set(e.stack_code_id, c);
  }
  return rows.map((r) => ({ ...r, deregistered_commit: commitOf.get(r.id) ?? null }));
}

/** The newest commit the registry has seen for a stack code: the invalid or current commit. */
export function latestCommitOf(c: Pick<StackCode, 'status' | 'current_commit' | 'error'>): string {
  const invalidAt = c.status === 'invalid' ? (c.error as { commit?: unknown } | null)?.commit : undefined;
  return typeof invalidAt === 'string' ? invalidAt : c.current_commit;
}
