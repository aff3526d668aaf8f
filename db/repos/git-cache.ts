/** git_cache: file contents keyed by (repo_url, commit, path), filled on push, read by workers. */
import type { DbOrTx } from '../index';

export interface CachedFile {
  path: string;
  content: Buffer;
}

/** Inserts files; existing entries (a retried activity) are left as they are. */
export async function putFiles(db: DbOrTx, repoUrl: string, commit: string, files: CachedFile[], chunk = 200): Promise<void> {
  for (let i = 0; i < files.length; i += chunk) {
    const part = files.slice(i, i + chunk);
    await db
      .insertInto('git_cache')
      .values(part.map((f) => ({ repo_url: repoUrl, commit_hash: commit, path: f.path, content: f.content })))
      .onConflict((oc) => oc.columns(['repo_url', 'commit_hash', 'path']).doNothing())
      .execute();
  }
}

export async function listPaths(db: DbOrTx, repoUrl: string, commit: string, prefix = ''): Promise<string[]> {
  let q = db.selectFrom('git_cache').select('path').where('repo_url', '=', repoUrl).where('commit_hash', '=', commit);
  if (prefix) q = q.where('path', 'like', `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  const rows = await q.orderBy('path').execute();
  return rows.map((r) => r.path);
}

export async function getFile(db: DbOrTx, repoUrl: string, commit: string, path: string): Promise<Buffer | undefined> {
  const row = await db
    .selectFrom('git_cache')
    .select('content')
    .where('repo_url', '=', repoUrl)
    .where('commit_hash', '=', commit)
    .where('path', '=', path)
    .executeTakeFirst();
  return row?.content;
}
