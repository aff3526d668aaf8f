/**
 * A small client of Stackly's REST API for the CLI (Node's fetch). Every failure becomes one
 * {@link ApiRequestError} whose message names what failed, the HTTP status and the API's
 * `{"error":{"code","message"}}`. The token goes only into the Authorization header: it is never
 * part of a message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../common/config';
import { credentialsPath, sessionFor, SessionTokens } from './credentials';
import type { RunProgress } from '../workflows/definitions';
import type { RunLogChunk } from '../common/run-logs';

/** Where `scripts/dev` serves the API (API_PORT's default). */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export interface Connection {
  url: string;
  /** An API key or token given explicitly (or the dev stack's); empty when `session` is used. */
  token: string;
  /** A `stackly login` session (credentials.ts): its access token, renewed when it expires. */
  session?: Pick<SessionTokens, 'accessToken'>;
  /** X-Stackly-Account, for a user of several accounts. */
  account?: string;
}

export interface ConnectionOptions {
  apiUrl?: string;
  token?: string;
}

/**
 * `--api-url` / STACKLY_API_URL (default the dev stack's API); the credential: `--token` /
 * STACKLY_API_TOKEN (an API key given explicitly always wins), else the `stackly login` session for
 * that URL (credentials.ts), else the dev stack's token file (`.stackly/api-token`, or
 * STACKLY_STATE_DIR's) when it exists. `env` is the CLI's config (common/config.ts), loaded when a
 * command needs the API.
 */
export const API_URL_HELP = `API base URL (env STACKLY_API_URL; default ${DEFAULT_API_URL}, the dev stack)`;
export const TOKEN_HELP = 'API bearer token (env STACKLY_API_TOKEN; default the stackly login session, then the dev stack\'s .stackly/api-token)';

/** The --api-url and --token options of every command that calls the api (resolveConnection reads them). */
export const withConnection = (c: Command): Command => c
  .option('--api-url <url>', API_URL_HELP)
  .option('--token <token>', TOKEN_HELP);

export function resolveConnection(opts: ConnectionOptions, env: Config<'cli'> = loadConfig('cli'), cwd = process.cwd()): Connection {
  const nonEmpty = (v: string | undefined) => (v && v.trim() !== '' ? v.trim() : undefined);
  const url = (nonEmpty(opts.apiUrl) ?? nonEmpty(env.STACKLY_API_URL) ?? DEFAULT_API_URL).replace(/\/+$/, '');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new Error(`the API URL "${url}" is not an http(s) URL (--api-url or STACKLY_API_URL)`);
  }
  let token = nonEmpty(opts.token) ?? nonEmpty(env.STACKLY_API_TOKEN);
  if (!token) {
    const file = credentialsPath(env.XDG_CONFIG_HOME);
    const stored = sessionFor(file, url);
    if (stored) return { url, token: '', session: new SessionTokens(file, url), ...(stored.account ? { account: stored.account } : {}) };
  }
  if (!token) {
    const file = join(nonEmpty(env.STACKLY_STATE_DIR) ?? join(cwd, '.stackly'), 'api-token');
    if (existsSync(file)) token = nonEmpty(readFileSync(file, 'utf8'));
  }
  if (!token) throw new Error('no API token: run stackly login, or pass --token or set STACKLY_API_TOKEN (scripts/dev keeps one in .stackly/api-token)');
  return { url, token };
}

export class ApiRequestError extends Error {
  constructor(
    /** What the CLI was doing, e.g. "approving run X". */
    readonly what: string,
    /** HTTP status; 0 when the API could not be reached. */
    readonly status: number,
    /** The API's error code (`not_found`, `run_not_running`, ...), or `unreachable`. */
    readonly code: string,
    readonly detail: string,
  ) {
    super(status === 0 ? `${what}: ${detail}` : `${what}: HTTP ${status} ${code}: ${detail}`);
    this.name = 'ApiRequestError';
  }
}

// ---- response bodies (api/views.ts, api/routes/*) ----

export interface StateBody { id: string; stack_code_id: string | null; name: string; status: string; commit_hash: string }
export interface StackCodeBody { id: string; name: string; repo_url: string; repo_path: string; status: string; current_commit: string }
export interface StackCodeWithStates extends StackCodeBody { states: StateBody[] }
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface RunStarted { workflow_id: string; commit?: string }
/** GET /api/runs/:id */
export interface RunBody { operation_id: string | null; operation_status: string | null; progress: RunProgress }

/** GET /api/me */
export interface MeBody {
  kind: 'user' | 'api_key';
  name: string;
  user: { id: string; login: string; email: string | null; name: string | null; provider: string } | null;
  api_key_id: string | null;
  account: { id: string; name: string; namespace: string; role: string };
  accounts: Array<{ id: string; name: string; role: string }>;
  groups: string[];
}

type Fetch = typeof fetch;

export class ApiClient {
  constructor(private readonly conn: Connection, private readonly fetchFn: Fetch = fetch) {}

  get url(): string {
    return this.conn.url;
  }

  /** The credential's headers (Authorization, X-Stackly-Account) and `extra`. */
  private async authHeaders(renew: boolean, extra: Record<string, string>): Promise<Record<string, string>> {
    const token = this.conn.session ? await this.conn.session.accessToken(renew) : this.conn.token;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...extra };
    if (this.conn.account) headers['x-stackly-account'] = this.conn.account;
    return headers;
  }

  /** `T` is undefined for 204 No Content (DELETE). */
  async request<T>(what: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const send = async (renew: boolean): Promise<Response> => {
      const headers = await this.authHeaders(renew, { accept: 'application/json' });
      if (body !== undefined) headers['content-type'] = 'application/json';
      try {
        return await this.fetchFn(`${this.conn.url}${path}`, {
          method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        const why = cause?.code ?? cause?.message ?? (e as Error).message;
        throw new ApiRequestError(what, 0, 'unreachable', `cannot reach the API at ${this.conn.url} (${why})`);
      }
    };
    let res = await send(false);
    // A signed-in session's access token may have been refused early (clock skew, a new signing key): renew once.
    if (res.status === 401 && this.conn.session) res = await send(true);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof err?.code === 'string' ? err.code : 'error';
      const message = typeof err?.message === 'string' ? err.message : (text.trim().split('\n')[0]?.slice(0, 200) || res.statusText);
      throw new ApiRequestError(what, res.status, code, message);
    }
    if (res.status === 204) return undefined as T;
    if (parsed === undefined) throw new ApiRequestError(what, res.status, 'bad_response', 'the API answered without a JSON body');
    return parsed as T;
  }

  me(): Promise<MeBody> {
    return this.request('reading who you are', 'GET', '/api/me');
  }

  stackCode(id: string): Promise<StackCodeWithStates> {
    return this.request('reading the stack code', 'GET', `/api/stack-codes/${encodeURIComponent(id)}`);
  }

  /** Every stack code (all pages) with this exact name, any status. */
  async stackCodesNamed(name: string): Promise<StackCodeBody[]> {
    const found: StackCodeBody[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: '200', ...(cursor ? { cursor } : {}) });
      const page: Page<StackCodeBody> = await this.request('listing stack codes', 'GET', `/api/stack-codes?${q.toString()}`);
      found.push(...page.items.filter((c) => c.name === name));
      cursor = page.next_cursor;
    } while (cursor);
    return found;
  }

  startRun(stateId: string, label: string): Promise<RunStarted> {
    return this.request(`starting a run of ${label}`, 'POST', `/api/states/${encodeURIComponent(stateId)}/runs`);
  }

  run(id: string): Promise<RunBody> {
    return this.request(`reading run ${id}`, 'GET', `/api/runs/${encodeURIComponent(id)}`);
  }

  approve(id: string, body: { scope?: string; comment?: string }): Promise<{ approved: boolean; by: string; scope: string }> {
    return this.request(`approving run ${id}`, 'POST', `/api/runs/${encodeURIComponent(id)}/approve`, body);
  }

  reject(id: string, body: { scope?: string; reason?: string }): Promise<{ rejected: boolean; by: string }> {
    return this.request(`rejecting run ${id}`, 'POST', `/api/runs/${encodeURIComponent(id)}/reject`, body);
  }

  cancel(id: string): Promise<{ cancelling: boolean; by: string }> {
    return this.request(`cancelling run ${id}`, 'POST', `/api/runs/${encodeURIComponent(id)}/cancel`, {});
  }

  /** The run's log as it is now (GET /api/runs/:id/logs?format=json). */
  runLogs(id: string, f: RunLogFilter = {}): Promise<RunLogsBody> {
    const q = new URLSearchParams({ format: 'json', ...(f.unit ? { unit: f.unit } : {}), ...(f.phase ? { phase: f.phase } : {}) });
    return this.request(`reading the log of run ${id}`, 'GET', `/api/runs/${encodeURIComponent(id)}/logs?${q.toString()}`);
  }

  /**
   * Opens the run's log event stream (GET /api/runs/:id/logs?follow=1), from after `lastEventId`.
   * Resolves with the open response (its body is the stream) or throws ApiRequestError; `retryAfterMs`
   * of a 429 or 503 is on the error.
   */
  async openRunLogStream(id: string, f: RunLogFilter & { lastEventId?: string; signal?: AbortSignal }): Promise<Response> {
    const what = `following the log of run ${id}`;
    const q = new URLSearchParams({ follow: '1', ...(f.unit ? { unit: f.unit } : {}), ...(f.phase ? { phase: f.phase } : {}) });
    const send = async (renew: boolean): Promise<Response> => {
      const headers = await this.authHeaders(renew, { accept: 'text/event-stream', ...(f.lastEventId ? { 'last-event-id': f.lastEventId } : {}) });
      try {
        return await this.fetchFn(`${this.conn.url}/api/runs/${encodeURIComponent(id)}/logs?${q.toString()}`, { method: 'GET', headers, ...(f.signal ? { signal: f.signal } : {}) });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        throw new ApiRequestError(what, 0, 'unreachable', `cannot reach the API at ${this.conn.url} (${cause?.code ?? cause?.message ?? (e as Error).message})`);
      }
    };
    let res = await send(false);
    if (res.status === 401 && this.conn.session) res = await send(true);
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let err: { code?: unknown; message?: unknown } | undefined;
    try { err = (JSON.parse(text) as { error?: typeof err }).error; } catch { err = undefined; }
    const e = new ApiRequestError(what, res.status, typeof err?.code === 'string' ? err.code : 'error', typeof err?.message === 'string' ? err.message : res.statusText);
    const retryAfter = Number(res.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0) (e as ApiRequestError & { retryAfterMs?: number }).retryAfterMs = retryAfter * 1000;
    throw e;
  }
}

export interface RunLogFilter { unit?: string; phase?: string }
/** GET /api/runs/:id/logs?format=json */
export interface RunLogsBody { run_id: string; chunks: RunLogChunk[] }
