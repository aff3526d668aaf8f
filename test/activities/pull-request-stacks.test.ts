/**
 * Which registered stacks a pull request changes (findPullRequestStacks), on real git and Postgres:
 * measured from the merge base (a base branch that moved on does not count), following local modules
 * and policies/, with the head fetched from refs/pull/<n>/head into the worker's mirror.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createGitActivities } from '../../activities/git';
import { mirrorDir } from '../../activities/git-mirror';
import { ensureAccount } from '../../db/repos/accounts';
import { insertStackCode } from '../../db/repos/stack-codes';
import { insertState } from '../../db/repos/stack-states';
import { createTestDb, type TestDb } from '../harness/db';
import * as h from '../harness/services';
import { GitRepo } from '../integration/webhooks/helpers';

describe('activities: the stacks a pull request changes (real git, Postgres)', function () {
  this.timeout(60_000);
  let t: TestDb;
  let repo: GitRepo;
  let gitCacheDir: string;
  let base: string;
  let accountId: string;
  const acts = () => createGitActivities({ db: t.db, logger: pino({ level: 'silent' }), gitCacheDir });
  const stack = (name: string) => `stack "${name}" {\n  state "prod" {}\n}\n`;

  /** Commits on a branch from `from`, pushed as the pull request's head only. */
  function pr(n: number, from: string, files: Record<string, string>): string {
    repo.git('checkout', '--quiet', '--detach', from);
    repo.write(files);
    const head = repo.commit(`pr ${n}`);
    repo.git('push', '--quiet', '--force', 'origin', `HEAD:refs/pull/${n}/head`);
    repo.git('checkout', '--quiet', 'main');
    return head;
  }
  const find = (n: number, head: string, baseSha = base) => acts().findPullRequestStacks({
    accountId, repositoryId: null, repoUrl: repo.url, branch: 'main', headSha: head, baseSha, headRef: `refs/pull/${n}/head`,
  });

  before(async () => {
    t = await createTestDb('pr_stacks');
    repo = new GitRepo('pr-stacks');
    gitCacheDir = mkdtempSync(join(h.testStateDir(), 'pr-git-'));
    repo.write({
      'stacks/a/stack.hcl': stack('a'), 'stacks/a/main.tf': 'resource "terraform_data" "a" {}\n',
      'stacks/b/stack.hcl': stack('b'), 'stacks/b/main.tf': 'module "m" {\n  source = "../../modules/m"\n}\n',
      'modules/m/main.tf': 'resource "terraform_data" "m" {}\n',
      'stacks/z/stack.hcl': stack('z'), 'stacks/z/main.tf': 'resource "terraform_data" "z" {}\n',
      'README.md': '# infra\n',
    });
    base = repo.commit('two stacks');
    repo.push();
    accountId = (await ensureAccount(t.db, 'default', 'stackly-test')).id;
    // The same URL registered in another account: never this account's pull requests' business.
    const otherId = (await ensureAccount(t.db, 'other', 'stackly-test-other')).id;
    await insertStackCode(t.db, { accountId: otherId, repositoryId: null, repoUrl: repo.url, repoPath: 'stacks/z', name: 'z', commit: base, config: {}, status: 'active', error: null });
    for (const name of ['a', 'b']) {
      const c = await insertStackCode(t.db, { accountId, repositoryId: null, repoUrl: repo.url, repoPath: `stacks/${name}`, name, commit: base, config: {}, status: 'active', error: null });
      const id = randomUUID();
      await insertState(t.db, { id, accountId, stackCodeId: c.id, name: 'prod', commit: base, tfStateKey: `default/${id}/`, variables: {} });
    }
  });
  after(async () => {
    await t?.drop();
    repo?.cleanup();
  });

  it('a change under one stack: that stack only, its head fetched from refs/pull/<n>/head', async () => {
    const head = pr(1, base, { 'stacks/a/main.tf': 'resource "terraform_data" "a" {}\nresource "terraform_data" "a2" {}\n' });
    const r = await find(1, head);
    assert.deepEqual(r.targets.map((x) => [x.stack, x.repoPath, x.states.map((s) => s.name)]), [['a', 'stacks/a', ['prod']]]);
    assert.equal(r.mergeBase, base);
    const mirror = mirrorDir(gitCacheDir, repo.url);
    assert.equal(execFileSync('git', ['--git-dir', mirror, 'rev-parse', 'refs/pull/1/head'], { encoding: 'utf8' }).trim(), head);
  });

  it('a change to a local module: the stacks that read it; to policies/: every stack; elsewhere: none', async () => {
    assert.deepEqual((await find(2, pr(2, base, { 'modules/m/main.tf': 'resource "terraform_data" "m2" {}\n' }))).targets.map((x) => x.stack), ['b']);
    assert.deepEqual((await find(3, pr(3, base, { 'policies/p.hcl': 'policy "p" {}\n' }))).targets.map((x) => x.stack), ['a', 'b']);
    assert.deepEqual((await find(4, pr(4, base, { 'README.md': '# changed\n' }))).targets, []);
  });

  it('measured from the merge base: the base branch moving on is not the pull request; new stacks are named', async () => {
    const head = pr(5, base, { 'stacks/c/stack.hcl': stack('c'), 'stacks/c/main.tf': 'resource "terraform_data" "c" {}\n' });
    repo.write({ 'stacks/b/main.tf': 'module "m" {\n  source = "../../modules/m"\n}\n# moved on\n' });
    const moved = repo.commit('main moves on');
    repo.push();
    const r = await find(5, head, moved);
    assert.equal(r.mergeBase, base);
    assert.deepEqual(r.targets, []);
    assert.deepEqual(r.newStacks, ['stacks/c']);
  });
});
