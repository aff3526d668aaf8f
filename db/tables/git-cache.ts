import type { Generated, Selectable } from 'kysely';

export interface GitCacheTable {
  repo_url: string;
  commit_hash: string;
  path: string;
  content: Buffer;
  cached_at: Generated<Date>;
}
export type GitCacheEntry = Selectable<GitCacheTable>;
