/**
 * Only the tracked branch deploys (issue 15), in the control worker's git activities against real git
 * and Postgres: a push's `after` that is only on another branch, or does not exist at all (a forged
 * payload), is refused by analysePush (fetchRepository does not fail on it): the delivery becomes
 * `refused` with the reason and a `push_refused` event is recorded; a commit of the branch passes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitActivities } from '../../activities/git';
import { createLogger } from '../../common/logger';
import { ensureAccount } from '../../db/repos/accounts';
import { insertDelivery } from '../../db/repos/webhook-deliveries';
import { createTestDb, type TestDb } from '../harness/db';

describe('activities/git: a pushed commit off the tracked branch is refused', function () {
  this.timeout(60_000);
  let tdb: TestDb;
  let root: string;
  let url: string;
  let onMain: string;
  let onFeature: string;
  let accountId: string;

  const sh = (cwd: string, ...args: string[]) => execFileSync('git', args, {
    cwd, encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  }).trim();

  before(async () => {
    tdb = await createTestDb('push_refusal');
    accountId = (await ensureAccount(tdb.db, 'acme', 'stackly')).id;
    root = mkdtempSync(join(tmpdir(), 'stackly-push-refusal-'));
    const origin = join(root, 'origin.git');
    const work = join(root, 'work');
    sh(root, 'init', '--quiet', '--bare', '-b', 'main', origin);
    sh(root, 'init', '--quiet', '-b', 'main', work);
    sh(work, 'remote', 'add', 'origin', origin);
    mkdirSync(join(work, 'stacks', 'net'), { recursive: true });
    writeFileSync(join(work, 'stacks', 'net', 'stack.hcl'), 'stack "net" {}\n');
    sh(work, 'add', '-A');
    sh(work, 'commit', '--quiet', '-m', 'main');
    onMain = sh(work, 'rev-parse', 'HEAD');
    sh(work, 'push', '--quiet', 'origin', 'main');
    sh(work, 'checkout', '--quiet', '-b', 'feature');
    mkdirSync(join(work, 'stacks', 'sneaky'), { recursive: true });
    writeFileSync(join(work, 'stacks', 'sneaky', 'stack.hcl'), 'stack "sneaky" {}\n');
    sh(work, 'add', '-A');
    sh(work, 'commit', '--quiet', '-m', 'feature only');
    onFeature = sh(work, 'rev-parse', 'HEAD');
    sh(work, 'push', '--quiet', 'origin', 'feature');
    url = `file://${origin}`;
  });
  after(async () => {
    await tdb?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const git = () => createGitActivities({ db: tdb.db, logger: createLogger('test', 'silent'), gitCacheDir: join(root, `cache-${Math.random().toString(36).slice(2)}`) });
  const delivery = async (id: string) => {
    await insertDelivery(tdb.db, { deliveryId: id, event: 'push', repositoryId: null, status: 'received' });
    return { deliveryId: id, accountId };
  };
  const row = (id: string) => tdb.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', id).executeTakeFirstOrThrow();
  const event = (id: string) => tdb.db.selectFrom('events').selectAll().where('dedupe_key', '=', `push_refused:${id}`).executeTakeFirst();
  const repo = { repositoryId: null, repoUrl: '', branch: 'main' };

  for (const which of ['only on another branch', 'that does not exist (forged)'] as const) {
    it(`a commit ${which} is refused, recorded on the delivery and as an event`, async () => {
      const after = which === 'only on another branch' ? onFeature : 'f'.repeat(40);
      const id = `d-${which.length}`;
      const d = await delivery(id);
      const g = git();
      const r = { ...repo, repoUrl: url };
      await g.fetchRepository({ ...r, commits: [after], delivery: d });
      const a = await g.analysePush({ ...r, before: onMain, after, known: [], delivery: d });
      assert.equal(a.afterOnBranch, false);
      assert.deepEqual(a.stackDirs, [], 'nothing analysed, so nothing registered');
      const stored = await row(id);
      assert.equal(stored.status, 'refused');
      assert.match(stored.reason ?? '', which === 'only on another branch' ? /not reachable from the tracked branch main/ : /does not exist/);
      const ev = await event(id);
      assert.ok(ev, 'a push_refused event');
      assert.equal((ev.payload as { commit: string }).commit, after);
      assert.equal(ev.account_id, accountId);
      // A retried activity records it once.
      await g.analysePush({ ...r, before: onMain, after, known: [], delivery: d });
      assert.equal((await tdb.db.selectFrom('events').select('id').where('dedupe_key', '=', `push_refused:${id}`).execute()).length, 1);
    });
  }

  it('a commit of the tracked branch passes', async () => {
    const d = await delivery('d-main');
    const a = await git().analysePush({ ...repo, repoUrl: url, before: null, after: onMain, known: [], delivery: d });
    assert.equal(a.afterOnBranch, true);
    assert.deepEqual(a.stackDirs, ['stacks/net']);
    assert.equal((await row('d-main')).status, 'received');
    assert.equal(await event('d-main'), undefined);
  });

  it('without a delivery (pushes started before): a missing commit still fails the fetch', async () => {
    await assert.rejects(git().fetchRepository({ ...repo, repoUrl: url, commits: ['e'.repeat(40)] }), /not found/);
  });
});
