/**
 * GitHub's REST API for feedback on commits and pull requests (issue 17): a repository's connection
 * (a GitHub App installation, or a token), stored as Vault Transit ciphertext in
 * `repositories.github_auth_enc`, and a client over it: @octokit/rest with @octokit/plugin-retry
 * (5xx retried a few times within one post; the outbox retries anything longer, see
 * workers/github-notifier.ts) and, for an App, @octokit/auth-app (installation tokens made and
 * renewed from the App's private key). The packages are ESM-only: loaded once by a dynamic import.
 */
import { z } from 'zod';
import type { Octokit as OctokitType } from '@octokit/rest';
import type { retry as retryPlugin } from '@octokit/plugin-retry';
import type { createAppAuth as createAppAuthType } from '@octokit/auth-app';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** What `POST/PUT /api/repositories…` accepts as `github.auth` (write-only, stored encrypted). */
export const GithubAuthSchema = z.union([
  z.strictObject({
    app_id: z.union([z.number().int().positive(), z.string().regex(/^\d{1,20}$/, 'must be a number')]),
    private_key: z.string().min(1).max(20_000).refine((k) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(k), 'must be a PEM private key'),
    installation_id: z.union([z.number().int().positive(), z.string().regex(/^\d{1,20}$/, 'must be a number')]),
  }),
  z.strictObject({ token: z.string().min(1).max(2000) }),
]);
export type GithubAuth = z.infer<typeof GithubAuthSchema>;

export const isAppAuth = (a: GithubAuth): a is Extract<GithubAuth, { app_id: unknown }> => 'app_id' in a;

/** `owner/name` as GitHub spells a repository. */
export const GITHUB_REPOSITORY = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;

/** The `owner/name` of a github.com URL (https, ssh, git), or undefined. */
export function githubRepositoryOfUrl(url: string): string | undefined {
  const m = /^(?:https?:\/\/(?:www\.)?github\.com\/|git@github\.com:|ssh:\/\/git@github\.com\/|git:\/\/github\.com\/)([^/\s]+)\/([^/\s]+?)(?:\.git)?\/?$/i.exec(url.trim());
  if (!m) return undefined;
  const full = `${m[1]}/${m[2]}`;
  return GITHUB_REPOSITORY.test(full) ? full : undefined;
}

export interface GithubConnection {
  auth: GithubAuth;
  /** REST API base URL, no trailing slash. */
  apiUrl: string;
  owner: string;
  repo: string;
}

export interface GithubClientOptions {
  /** Retries of a 5xx within one call (@octokit/plugin-retry); default 2. */
  retries?: number;
  /** A request that takes longer is abandoned (ms); default 20 s. */
  timeoutMs?: number;
  userAgent?: string;
}

type Modules = {
  Octokit: typeof OctokitType;
  retry: typeof retryPlugin;
  createAppAuth: typeof createAppAuthType;
};
let modules: Promise<Modules> | undefined;
const load = (): Promise<Modules> => (modules ??= (async () => {
  const [{ Octokit }, { retry }, { createAppAuth }] = await Promise.all([import('@octokit/rest'), import('@octokit/plugin-retry'), import('@octokit/auth-app')]);
  return { Octokit, retry, createAppAuth };
})());

/** An Octokit for one repository's connection. Its token (or the App's installation tokens) never appear in logs. */
export async function githubClient(c: GithubConnection, o: GithubClientOptions = {}): Promise<OctokitType> {
  const { Octokit, retry, createAppAuth } = await load();
  const RetryingOctokit = Octokit.plugin(retry);
  const timeoutMs = o.timeoutMs ?? 20_000;
  const common = {
    baseUrl: c.apiUrl.replace(/\/+$/, ''),
    userAgent: o.userAgent ?? 'stackly',
    retry: { retries: o.retries ?? 2 },
    request: { fetch: (url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }) },
    // Octokit's own console logging off: failures are handled (and logged without secrets) by the caller.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  };
  if (isAppAuth(c.auth)) {
    return new RetryingOctokit({
      ...common,
      authStrategy: createAppAuth,
      auth: { appId: Number(c.auth.app_id), privateKey: c.auth.private_key, installationId: Number(c.auth.installation_id) },
    });
  }
  return new RetryingOctokit({ ...common, auth: c.auth.token });
}

/** The HTTP status of an Octokit error (RequestError), if it has one. */
export function githubErrorStatus(e: unknown): number | undefined {
  const s = (e as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

/** Headers of an Octokit error's response (rate-limit hints), if any. */
export function githubErrorHeaders(e: unknown): Record<string, string | number | undefined> {
  return ((e as { response?: { headers?: Record<string, string | number | undefined> } }).response?.headers) ?? {};
}
