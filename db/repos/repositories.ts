/** repositories: registered Git repositories with their (encrypted) webhook secret and credentials. */
import type { DbOrTx } from '../index';
import type { Repository } from '../tables/repositories';
import { keysetPage, type Page, type PageRequest } from './pagination';

export interface NewRepository {
  accountId: string;
  url: string;
  trackedBranch: string;
  webhookSecretEnc: string | null;
  credentialsEnc: string | null;
}

/** Normalises a repository URL for storage: trimmed, no trailing slash, lower-case scheme and host. */
export function normalizeRepoUrl(url: string): string {
  let u = url.trim().replace(/\/+$/, '');
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)(.*)$/i.exec(u);
  if (m) u = m[1]!.toLowerCase() + m[2]!.toLowerCase() + m[3]!;
  return u;
}

/** The spellings under which a URL may have been registered (with and without `.git`). */
export function repoUrlVariants(url: string): string[] {
  const n = normalizeRepoUrl(url);
  const bare = n.replace(/\.git$/, '');
  return [...new Set([n, bare, `${bare}.git`])];
}

export async function insertRepository(db: DbOrTx, r: NewRepository): Promise<Repository> {
  return db
    .insertInto('repositories')
    .values({
      account_id: r.accountId,
      url: normalizeRepoUrl(r.url),
      tracked_branch: r.trackedBranch,
      webhook_secret_enc: r.webhookSecretEnc,
      credentials_enc: r.credentialsEnc,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getRepository(db: DbOrTx, accountId: string, id: string): Promise<Repository | undefined> {
  return db.selectFrom('repositories').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export async function getRepositoryById(db: DbOrTx, id: string): Promise<Repository | undefined> {
  return db.selectFrom('repositories').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Every registered repository, in any account, that a webhook payload's URLs name, with its account's
 * Temporal namespace (oldest first). The delivery's signature then tells which one it is for.
 */
export async function findRepositoriesByUrlsInAnyAccount(db: DbOrTx, urls: string[]): Promise<Array<Repository & { temporal_namespace: string }>> {
  const candidates = [...new Set(urls.filter(Boolean).flatMap(repoUrlVariants))];
  if (candidates.length === 0) return [];
  return db
    .selectFrom('repositories as r')
    .innerJoin('accounts as a', 'a.id', 'r.account_id')
    .selectAll('r')
    .select('a.temporal_namespace')
    .where('r.url', 'in', candidates)
    .orderBy('r.created_at')
    .execute();
}

/** A repository's GitHub connection (GitHub feedback: statuses, checks, pull-request comments). */
export interface GithubConnectionUpdate {
  /** Vault Transit ciphertext of the connection's JSON; null disconnects; undefined keeps it. */
  authEnc?: string | null;
  githubRepository?: string | null;
  apiUrl?: string | null;
  allowForkPrs?: boolean;
}

export async function updateGithubConnection(db: DbOrTx, accountId: string, id: string, u: GithubConnectionUpdate): Promise<Repository | undefined> {
  return db.updateTable('repositories')
    .set({
      ...(u.authEnc !== undefined ? { github_auth_enc: u.authEnc } : {}),
      ...(u.githubRepository !== undefined ? { github_repository: u.githubRepository } : {}),
      ...(u.apiUrl !== undefined ? { github_api_url: u.apiUrl } : {}),
      ...(u.allowForkPrs !== undefined ? { allow_fork_prs: u.allowForkPrs } : {}),
      updated_at: new Date(),
    })
    .where('account_id', '=', accountId).where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function listRepositories(db: DbOrTx, accountId: string, page: PageRequest): Promise<Page<Repository>> {
  return keysetPage(db.selectFrom('repositories').selectAll().where('account_id', '=', accountId), page, { time: 'created_at' });
}

/** Sets (replaces) a repository's webhook secret (Vault Transit ciphertext); undefined when it is not the account's. */
export async function setRepositoryWebhookSecret(db: DbOrTx, accountId: string, id: string, webhookSecretEnc: string): Promise<Repository | undefined> {
  return db.updateTable('repositories').set({ webhook_secret_enc: webhookSecretEnc, updated_at: new Date() })
    .where('account_id', '=', accountId).where('id', '=', id).returningAll().executeTakeFirst();
}
