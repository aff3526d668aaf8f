/**
 * What `stackly login` keeps: per API URL, the signed-in user's access and refresh tokens, in
 * `$XDG_CONFIG_HOME/stackly/credentials.json` (default `~/.config/stackly/`), a file only its owner
 * may read (0600, directory 0700), written whole through a temporary file. The access token is
 * renewed with the refresh token (POST /auth/token) when it is about to expire or the API refuses it;
 * a lock file keeps two commands from renewing at once (the second use of a refresh token would
 * revoke the sign-in).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface StoredSession {
  login: string;
  access_token: string;
  access_expires_at: string;
  refresh_token: string;
  refresh_expires_at: string;
  /** X-Stackly-Account to send (`stackly login --account`), for users of several accounts. */
  account?: string;
}

interface CredentialsFile {
  version: 1;
  servers: Record<string, StoredSession>;
}

/** The pair POST /auth/token and POST /auth/cli/poll answer. */
export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_at: string;
}

export const credentialsPath = (xdgConfigHome: string | undefined): string =>
  join(xdgConfigHome && xdgConfigHome.trim() ? xdgConfigHome : join(homedir(), '.config'), 'stackly', 'credentials.json');

export function readCredentials(file: string): CredentialsFile {
  if (!existsSync(file)) return { version: 1, servers: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<CredentialsFile>;
    return { version: 1, servers: parsed.servers && typeof parsed.servers === 'object' ? parsed.servers : {} };
  } catch {
    throw new Error(`${file} is not valid JSON: remove it and run stackly login again`);
  }
}

function writeCredentials(file: string, c: CredentialsFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function sessionFor(file: string, url: string): StoredSession | undefined {
  return readCredentials(file).servers[url];
}

export function saveSession(file: string, url: string, s: StoredSession | undefined): void {
  const c = readCredentials(file);
  if (s) c.servers[url] = s;
  else delete c.servers[url];
  writeCredentials(file, c);
}

export function sessionFromAnswer(login: string, a: TokenAnswer, account?: string): StoredSession {
  return {
    login, access_token: a.access_token, access_expires_at: new Date(Date.now() + a.expires_in * 1000).toISOString(),
    refresh_token: a.refresh_token, refresh_expires_at: a.refresh_expires_at, ...(account ? { account } : {}),
  };
}

/** Runs `fn` holding `<file>.lock` (created exclusively; one older than 30 s is a crashed holder's). */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { force: true });
      } catch { /* gone meanwhile */ }
      if (i > 100) throw new Error(`${lock} is held by another stackly command`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** A signed-in session's access token for requests, renewed when needed. */
export class SessionTokens {
  constructor(
    private readonly file: string,
    readonly url: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  get account(): string | undefined {
    return sessionFor(this.file, this.url)?.account;
  }

  /** The access token; renewed first when it expires within 30 s, or when `force` (the API refused it). */
  async accessToken(force = false): Promise<string> {
    const s = sessionFor(this.file, this.url);
    if (!s) throw new Error(`not signed in to ${this.url}: run stackly login`);
    if (!force && Date.parse(s.access_expires_at) - Date.now() > 30_000) return s.access_token;
    return withLock(this.file, async () => {
      // Another command may have renewed it while this one waited for the lock.
      const now = sessionFor(this.file, this.url);
      if (!now) throw new Error(`not signed in to ${this.url}: run stackly login`);
      if (now.refresh_token !== s.refresh_token) return now.access_token;
      if (Date.parse(now.refresh_expires_at) <= Date.now()) throw new Error(`the sign-in to ${this.url} has expired: run stackly login`);
      let res: Response;
      try {
        res = await this.fetchFn(`${this.url}/auth/token`, {
          method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ refresh_token: now.refresh_token }), signal: AbortSignal.timeout(30_000),
        });
      } catch (e) {
        throw new Error(`renewing the sign-in: cannot reach the API at ${this.url} (${(e as Error).message})`);
      }
      if (res.status === 401) {
        saveSession(this.file, this.url, undefined);
        throw new Error(`the sign-in to ${this.url} is no longer valid (expired or revoked): run stackly login`);
      }
      if (!res.ok) throw new Error(`renewing the sign-in: HTTP ${res.status} from ${this.url}/auth/token`);
      const next = sessionFromAnswer(now.login, (await res.json()) as TokenAnswer, now.account);
      saveSession(this.file, this.url, next);
      return next.access_token;
    });
  }
}
