/**
 * activities/git-mirror.ts, the git of both worker kinds, against a private repository served over
 * HTTP by `git http-backend` behind Basic authentication: the environment git gets (no secrets of
 * the worker, credentials only as GIT_CONFIG_* on fetches), fetches serialised per mirror, and the
 * same credentials resolver serving the control worker's push analysis and the execution worker's
 * checkouts. Needs git only.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { GitCredentials } from '../../common/secret-box';
import type { Db } from '../../db';
import { createGitActivities } from '../../activities/git';
import { GitMirror, gitEnv, mirrorDir } from '../../activities/git-mirror';
import { createStackCode } from '../../activities/terraform/stack-code';

const TOKEN = 'ghp_test-token-0123456789';
const CREDS: GitCredentials = { token: TOKEN };
const GOOD = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;

describe('activities/git-mirror: one git for both worker kinds', function () {
  this.timeout(60_000);
  let root: string;
  let server: Server;
  let url: string;
  let commit: string;
  /** Requests the server answered: method, path, whether authorised. */
  let requests: Array<{ method: string; path: string; ok: boolean }>;

  const sh = (cwd: string, ...args: string[]) => execFileSync('git', args, {
    cwd, encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  }).trim();

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'stackly-git-mirror-'));
    const work = join(root, 'work');
    mkdirSync(join(work, 'stacks', 'net'), { recursive: true });
    writeFileSync(join(work, 'stacks', 'net', 'stack.hcl'), 'stack "net" {}\n');
    writeFileSync(join(work, 'stacks', 'net', 'main.tf'), 'resource "terraform_data" "a" {}\n');
    sh(root, 'init', '--quiet', '-b', 'main', work);
    sh(work, 'add', '-A');
    sh(work, 'commit', '--quiet', '-m', 'one');
    commit = sh(work, 'rev-parse', 'HEAD');
    mkdirSync(join(root, 'srv'));
    sh(root, 'clone', '--quiet', '--bare', work, join(root, 'srv', 'private.git'));

    // Smart HTTP through git http-backend (CGI), refusing every request without the token.
    requests = [];
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const ok = req.headers.authorization === GOOD;
      requests.push({ method: req.method ?? '', path: u.pathname, ok });
      if (!ok) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
        return;
      }
      const cgi = spawn('git', ['http-backend'], {
        env: {
          PATH: process.env.PATH, GIT_PROJECT_ROOT: join(root, 'srv'), GIT_HTTP_EXPORT_ALL: '1',
          REQUEST_METHOD: req.method, PATH_INFO: u.pathname, QUERY_STRING: u.search.slice(1),
          CONTENT_TYPE: req.headers['content-type'] ?? '', HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
          GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''), REMOTE_USER: 'test', REMOTE_ADDR: '127.0.0.1',
        },
      });
      req.pipe(cgi.stdin);
      const out: Buffer[] = [];
      cgi.stdout.on('data', (b: Buffer) => out.push(b));
      cgi.on('close', () => {
        const all = Buffer.concat(out);
        const end = all.indexOf('\r\n\r\n');
        const headers: Record<string, string> = {};
        let status = 200;
        for (const line of all.subarray(0, end).toString('latin1').split('\r\n')) {
          const i = line.indexOf(':');
          const k = line.slice(0, i).trim();
          const v = line.slice(i + 1).trim();
          if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
          else headers[k] = v;
        }
        res.writeHead(status, headers).end(all.subarray(end + 4));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/private.git`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  it('git gets LC_ALL=C, no prompt, and none of the worker\'s secrets; credentials only as GIT_CONFIG_*', () => {
    const base = {
      PATH: '/bin', HOME: '/home/w', HTTPS_PROXY: 'http://proxy:3128', AWS_SECRET_ACCESS_KEY: 's3-secret',
      VAULT_TOKEN: 'hvs.secret', DATABASE_URL: 'postgres://u:p@db/x', GIT_CONFIG_COUNT: '5', LANG: 'de_DE.UTF-8',
    };
    assert.deepEqual(gitEnv(base), { PATH: '/bin', HOME: '/home/w', HTTPS_PROXY: 'http://proxy:3128', LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' });
    const withCreds = gitEnv(base, CREDS);
    assert.equal(withCreds.GIT_CONFIG_COUNT, '1');
    assert.equal(withCreds.GIT_CONFIG_KEY_0, 'http.extraHeader');
    assert.equal(withCreds.GIT_CONFIG_VALUE_0, `Authorization: ${GOOD}`);
    assert.equal(gitEnv({}).PATH, '/usr/bin:/bin');
    assert.equal(gitEnv({}, { username: 'u', password: 'p' }).GIT_CONFIG_VALUE_0, `Authorization: Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('a private repository: no credentials, the fetch fails; with them, fetched and checked out', async () => {
    const gitDir = join(root, 'anon');
    const anon = new GitMirror(gitDir, url);
    await assert.rejects(anon.fetch([commit]), /fetching .*private\.git/);
    const m = new GitMirror(gitDir, url, { credentials: async () => CREDS });
    assert.equal(m.dir, mirrorDir(gitDir, url));
    assert.deepEqual(await m.fetch([commit]), { missing: [], head: null });
    const dest = join(root, 'out');
    await m.checkout(commit, dest);
    assert.equal(readFileSync(join(dest, 'stacks', 'net', 'stack.hcl'), 'utf8'), 'stack "net" {}\n');
    // The token is in no file of the mirror (it travelled in the fetch's environment only).
    assert.doesNotMatch(readFileSync(join(m.dir, 'config'), 'utf8'), new RegExp(TOKEN));
  });

  it('a mirror removed under a running worker is made and fetched again', async () => {
    const gitDir = join(root, 'removed');
    const m = new GitMirror(gitDir, url, { credentials: async () => CREDS });
    await m.fetch([commit], { branch: 'main' });
    rmSync(m.dir, { recursive: true, force: true });
    assert.deepEqual(await m.fetch([commit], { branch: 'main' }), { missing: [], head: commit });
    await m.checkout(commit, join(root, 'removed-out'));
    assert.ok(readFileSync(join(root, 'removed-out', 'stacks', 'net', 'main.tf'), 'utf8'));
  });

  it('concurrent refreshes of a fresh mirror: one mirror made, at most two fetches', async () => {
    const gitDir = join(root, 'burst');
    const m = () => new GitMirror(gitDir, url, { credentials: async () => CREDS });
    const before = requests.filter((r) => r.ok && r.method === 'POST').length;
    const results = await Promise.all(Array.from({ length: 6 }, () => m().fetch([commit], { branch: 'main', refresh: true })));
    for (const r of results) assert.deepEqual(r, { missing: [], head: commit });
    const fetches = requests.filter((r) => r.ok && r.method === 'POST').length - before;
    assert.ok(fetches >= 1 && fetches <= 2, `${fetches} fetches`);
  });

  it('the control worker (push analysis) and an execution worker (checkout) fetch with the same resolver', async () => {
    const asked: string[] = [];
    const credentialsFor = async (id: string) => { asked.push(id); return id === 'repo-1' ? CREDS : null; };
    const git = createGitActivities({ db: {} as Db, logger: pino({ level: 'silent' }), gitCacheDir: join(root, 'control'), credentialsFor });
    assert.deepEqual(await git.fetchRepository({ repositoryId: 'repo-1', repoUrl: url, branch: 'main', commits: [commit] }), { head: commit });

    const code = createStackCode({ workDir: join(root, 'exec'), credentialsFor });
    const source = { repoUrl: url, commit, stackPath: 'stacks/net' };
    await assert.rejects(code.sharedCheckout(source), /fetching/);
    const { stackRoot } = await code.sharedCheckout({ ...source, repositoryId: 'repo-1' });
    assert.equal(readFileSync(join(stackRoot, 'main.tf'), 'utf8'), 'resource "terraform_data" "a" {}\n');
    assert.deepEqual(asked, ['repo-1', 'repo-1']);
  });
});
