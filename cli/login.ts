/**
 * `stackly login`, `stackly logout`, `stackly whoami`.
 *
 * login: the command line makes a poll secret (256 random bits), starts a sign-in at the api
 * (`GET /auth/login?cli=<its SHA-256>`, whose redirect is the identity provider's URL), opens (or
 * prints) that URL with the code the api gave it, and polls `POST /auth/cli/poll` with the secret
 * until the browser's sign-in has come back to the api and the person there typed the code; the
 * tokens it then receives (once) are kept in the credentials file (credentials.ts). Whoever sees the
 * URL cannot collect the tokens, and a URL sent to someone else gets theirs only if they type a code
 * they were never shown.
 * logout: revokes the sign-in at the api (POST /auth/logout) and forgets it.
 * whoami: GET /api/me with whatever credential the other commands would use.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig } from '../common/config';
import { API_URL_HELP, ApiClient, TOKEN_HELP, resolveConnection, type ConnectionOptions, type MeBody } from './api-client';
import { credentialsPath, saveSession, sessionFor, sessionFromAnswer, type TokenAnswer } from './credentials';


export interface LoginOptions {
  apiUrl?: string;
  provider?: string;
  account?: string;
  browser?: boolean;
  /** Poll interval (tests make it short). */
  pollMs?: number;
  timeoutMs?: number;
  /** Where the URL and progress go (stderr). */
  say?: (s: string) => void;
  fetchFn?: typeof fetch;
}

function apiUrlOf(opt: string | undefined): string {
  const env = loadConfig('cli');
  // resolveConnection validates the URL; its credential does not matter here.
  return resolveConnection({ ...(opt ? { apiUrl: opt } : {}), token: 'unused' }, env).url;
}

function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch { /* printed anyway */ }
}

/** The whole command-line sign-in; resolves with the login name once the tokens are stored. */
export async function login(o: LoginOptions): Promise<string> {
  const url = apiUrlOf(o.apiUrl);
  const say = o.say ?? ((s: string) => process.stderr.write(s));
  const fetchFn = o.fetchFn ?? fetch;
  const secret = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({ ...(o.provider ? { provider: o.provider } : {}), cli: createHash('sha256').update(secret).digest('hex') });
  // The api starts the sign-in (so a bad provider or an api without sign-in fails here, at once) and
  // answers the identity provider's URL, which the browser opens.
  let started: Response;
  try {
    started = await fetchFn(`${url}/auth/login?${q.toString()}`, { redirect: 'manual', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new Error(`signing in: cannot reach the API at ${url} (${(e as Error).message})`);
  }
  const loginUrl = started.headers.get('location');
  if (started.status !== 302 || !loginUrl) {
    const err = ((await started.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }).error;
    throw new Error(`signing in: HTTP ${started.status} ${err?.code ?? 'error'}: ${err?.message ?? started.statusText}`);
  }
  const code = started.headers.get('x-stackly-login-code');
  say(`Open this URL in a browser to sign in (it is good for 10 minutes):\n\n  ${loginUrl}\n\n`
    + (code ? `When the browser asks, type this code: ${code}\n\n` : '') + 'Waiting for the sign-in…\n');
  if (o.browser !== false) openBrowser(loginUrl);
  const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
  for (;;) {
    let res: Response | undefined;
    try {
      res = await fetchFn(`${url}/auth/cli/poll`, {
        method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ poll_secret: secret }), signal: AbortSignal.timeout(30_000),
      });
    } catch {
      res = undefined; // the api restarting: keep waiting
    }
    if (res?.status === 200) {
      const body = (await res.json()) as TokenAnswer & { login: string };
      saveSession(credentialsPath(loadConfig('cli').XDG_CONFIG_HOME), url, sessionFromAnswer(body.login, body, o.account));
      return body.login;
    }
    // 502/503: the api restarting behind a proxy; keep waiting.
    if (res && res.status !== 202 && res.status !== 502 && res.status !== 503) {
      const err = ((await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }).error;
      throw new Error(`signing in: HTTP ${res.status} ${err?.code ?? 'error'}: ${err?.message ?? res.statusText}`);
    }
    if (Date.now() > deadline) throw new Error('signing in: no sign-in within 10 minutes: run stackly login again');
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
}

/** Revokes the stored sign-in at the api and forgets it; false when there was none. */
export async function logout(o: { apiUrl?: string; fetchFn?: typeof fetch }): Promise<boolean> {
  const url = apiUrlOf(o.apiUrl);
  const file = credentialsPath(loadConfig('cli').XDG_CONFIG_HOME);
  const s = sessionFor(file, url);
  if (!s) return false;
  try {
    await (o.fetchFn ?? fetch)(`${url}/auth/logout`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh_token }),
      signal: AbortSignal.timeout(30_000),
    });
  } finally {
    // Forgotten even when the api cannot be reached: the tokens expire by themselves.
    saveSession(file, url, undefined);
  }
  return true;
}

export function whoamiText(me: MeBody): string {
  const who = me.user ? `${me.user.login} (${me.user.provider}${me.kind === 'api_key' ? ', through an API key' : ''})` : `${me.name} (API key)`;
  const lines = [
    `${who}, ${me.account.role} in account ${me.account.name}`,
    `groups: ${me.groups.length ? me.groups.join(', ') : '(none)'}`,
  ];
  if (me.accounts.length > 1) lines.push(`accounts: ${me.accounts.map((a) => `${a.name} (${a.role})`).join(', ')}`);
  return lines.join('\n');
}

export function registerLogin(program: Command): void {
  program.command('login')
    .description('sign in through the api\'s identity provider (browser), keeping the tokens in $XDG_CONFIG_HOME/stackly/credentials.json')
    .option('--provider <name>', 'oidc or github (default: the one the api has)')
    .option('--account <name>', 'the account to act in (X-Stackly-Account), for users of several')
    .option('--no-browser', 'only print the URL')
    .option('--api-url <url>', API_URL_HELP)
    .action(async (opts: { provider?: string; account?: string; browser: boolean; apiUrl?: string }) => {
      const who = await login(opts);
      process.stdout.write(`Signed in as ${who} to ${apiUrlOf(opts.apiUrl)}\n`);
    });

  program.command('logout')
    .description('end the sign-in of stackly login (revoked at the api) and forget its tokens')
    .option('--api-url <url>', API_URL_HELP)
    .action(async (opts: { apiUrl?: string }) => {
      const had = await logout(opts);
      process.stdout.write(had ? `Signed out of ${apiUrlOf(opts.apiUrl)}\n` : `Not signed in to ${apiUrlOf(opts.apiUrl)}\n`);
    });

  program.command('whoami')
    .description('who the API sees: user or API key, account, role, groups (GET /api/me)')
    .option('--json', 'print the API\'s JSON')
    .option('--api-url <url>', API_URL_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: ConnectionOptions & { json?: boolean }) => {
      const me = await new ApiClient(resolveConnection(opts)).me();
      process.stdout.write(opts.json ? JSON.stringify(me) + '\n' : whoamiText(me) + '\n');
    });
}
