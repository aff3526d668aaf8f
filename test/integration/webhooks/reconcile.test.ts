/**
 * The registry follows the branch head, and change detection follows local modules (issue 13, parts 4
 * and 5). Real git repositories, signed push deliveries to the in-process api, pushWorkflow on the real
 * Temporal server, the registry in the real Postgres; the run workflows are the stand-ins of
 * stand-in-workflows.ts. Assertions go through the push workflow's result and the registry rows, never
 * through run workflow ids.
 */
import assert from 'node:assert/strict';
import { pushWorkflowId } from '../../../workflows/definitions';
import type { PushResult } from '../../../workflows/push';
import {
  GitRepo, MAIN_TF, STACK_HCL, deliver, pushPayload, registerRepo, setupEnv, startApi, startWorker,
  type Env, type RunningApi, type RunningWorker,
} from './helpers';

const module = (name: string, source: string) => `module "${name}" {\n  source = "${source}"\n}\n`;

describe('webhooks: the registry equals the branch head; local modules are followed', function () {
  this.timeout(120_000);
  let env: Env;
  let api: RunningApi;
  let worker: RunningWorker;
  const repos: GitRepo[] = [];
  const secret = 'reconcile-repository-secret-0123456789';

  before(async () => {
    env = await setupEnv('webhooks_reconcile');
    api = await startApi(env);
    worker = await startWorker(env);
  });

  after(async () => {
    await worker?.stop();
    await api?.app.close();
    await env?.stop();
    for (const r of repos) r.cleanup();
  });

  async function newRepo(label: string): Promise<GitRepo> {
    const repo = new GitRepo(label);
    repos.push(repo);
    await registerRepo(api, repo.url, { webhook_secret: secret });
    return repo;
  }

  /** Pushes HEAD (force: a force push), delivers it, waits for the push workflow's result. */
  async function pushAndWait(repo: GitRepo, force = false): Promise<PushResult & { after: string }> {
    const { before, after } = repo.push('main', force);
    const d = await deliver(api.url, pushPayload(repo, { before, after, forced: force }), { secret });
    assert.equal(d.status, 202, JSON.stringify(d.body));
    const result = await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result() as PushResult;
    return { ...result, after };
  }

  /** Stack codes of the repository that are not de-registered: path → row. */
  async function live(repo: GitRepo) {
    const rows = await env.tdb.db.selectFrom('stack_codes').selectAll().where('repo_url', '=', repo.url)
      .where('status', '!=', 'deregistered').execute();
    return new Map(rows.map((r) => [r.repo_path, r]));
  }

  const sorted = (xs: string[]) => [...xs].sort();

  describe('force push to an older commit', () => {
    let repo: GitRepo;
    before(async () => { repo = await newRepo('reconcile-force'); });

    it('the registry lists exactly the stacks of the tree at the new head', async () => {
      repo.write({
        'stacks/net/stack.hcl': STACK_HCL('net', { states: ['prod'] }), 'stacks/net/main.tf': MAIN_TF('net'),
        'stacks/base/stack.hcl': STACK_HCL('base', { states: ['prod'] }), 'stacks/base/main.tf': MAIN_TF('base'),
      });
      const older = repo.commit('net and base');
      const first = await pushAndWait(repo);
      assert.deepEqual(sorted(first.registered), ['stacks/base', 'stacks/net']);

      // The newer commit removes net and adds extra.
      repo.rm('stacks/net');
      repo.write({ 'stacks/extra/stack.hcl': STACK_HCL('extra', { states: ['prod'] }), 'stacks/extra/main.tf': MAIN_TF('extra') });
      const newer = repo.commit('remove net, add extra');
      const second = await pushAndWait(repo);
      assert.deepEqual(second.registered, ['stacks/extra']);
      assert.deepEqual(second.deregistered, ['stacks/net']);
      assert.deepEqual(sorted([...(await live(repo)).keys()]), ['stacks/base', 'stacks/extra']);

      // Reset the branch to the older commit: net is back, extra is gone, base is as it was.
      repo.git('reset', '--quiet', '--hard', older);
      const forced = await pushAndWait(repo, true);
      assert.equal(forced.after, older);
      assert.deepEqual(forced.superseded, [], 'nothing is left to the force-pushed-away commit');
      assert.deepEqual(sorted([...forced.registered, ...forced.updated]), ['stacks/net']);
      assert.deepEqual(forced.deregistered, ['stacks/extra']);
      assert.equal(forced.runsStarted.length, 1, 'one run, for net\'s one state');

      const rows = await live(repo);
      assert.deepEqual(sorted([...rows.keys()]), ['stacks/base', 'stacks/net']);
      assert.equal(rows.get('stacks/net')!.status, 'active');
      assert.equal(rows.get('stacks/net')!.current_commit, older);
      assert.equal(rows.get('stacks/base')!.current_commit, older);
      const extra = await env.tdb.db.selectFrom('stack_codes').selectAll().where('repo_url', '=', repo.url)
        .where('repo_path', '=', 'stacks/extra').executeTakeFirstOrThrow();
      assert.equal(extra.status, 'deregistered');

      // The push of the dropped commit, redelivered late: its commit is no longer on the branch, so it
      // changes nothing (analysePush's afterOnBranch is false).
      const late = await deliver(api.url, pushPayload(repo, { before: older, after: newer }), { secret });
      assert.equal(late.status, 202, JSON.stringify(late.body));
      const lateResult = await env.client.workflow.getHandle(pushWorkflowId(late.deliveryId)).result() as PushResult;
      assert.deepEqual([...lateResult.registered, ...lateResult.updated, ...lateResult.deregistered, ...lateResult.runsStarted], []);
      assert.deepEqual(sorted([...(await live(repo)).keys()]), ['stacks/base', 'stacks/net']);
      assert.equal((await live(repo)).get('stacks/net')!.current_commit, older);

      // Onward from the reset head: a normal push again.
      repo.write({ 'stacks/net/main.tf': MAIN_TF('net v2') });
      repo.commit('net v2');
      const onward = await pushAndWait(repo);
      assert.deepEqual(onward.updated, ['stacks/net']);
      assert.deepEqual(onward.registered, []);
      assert.deepEqual(onward.deregistered, []);
      assert.deepEqual(sorted([...(await live(repo)).keys()]), ['stacks/base', 'stacks/net']);
    });
  });

  describe('change detection follows local modules', () => {
    let repo: GitRepo;
    before(async () => { repo = await newRepo('reconcile-modules'); });

    it('registers stacks that read local modules directly and through another module', async () => {
      repo.write({
        'modules/x/main.tf': MAIN_TF('x v1'),
        'modules/wrap/main.tf': module('x', '../x'),
        'modules/y/main.tf': MAIN_TF('y v1'),
        'stacks/direct/stack.hcl': STACK_HCL('direct', { states: ['prod'] }),
        'stacks/direct/main.tf': module('x', '../../modules/x'),
        'stacks/nested/stack.hcl': STACK_HCL('nested', { states: ['prod'] }),
        'stacks/nested/main.tf': module('w', '../../modules/wrap'),
        'stacks/other/stack.hcl': STACK_HCL('other', { states: ['prod'] }),
        'stacks/other/main.tf': MAIN_TF('other'),
        // Escapes the repository: not followed here (the analysis on workers refuses it).
        'stacks/escape/stack.hcl': STACK_HCL('escape', { states: ['prod'] }),
        'stacks/escape/main.tf': module('o', '../../../outside') + module('x', '../../modules/x/'),
      });
      repo.commit('stacks and modules');
      const r = await pushAndWait(repo);
      assert.deepEqual(sorted(r.registered), ['stacks/direct', 'stacks/escape', 'stacks/nested', 'stacks/other']);
    });

    it('editing modules/x updates and runs both stacks that read it (depth 1 and 2), not the third; fills git_cache with the modules', async () => {
      const other = (await live(repo)).get('stacks/other')!;
      repo.write({ 'modules/x/main.tf': MAIN_TF('x v2') });
      repo.commit('x v2');
      const r = await pushAndWait(repo);
      assert.deepEqual(r.registered, []);
      assert.deepEqual(sorted(r.updated), ['stacks/direct', 'stacks/escape', 'stacks/nested']);
      assert.equal(r.runsStarted.length, 3, 'a run per state of the three updated stacks');
      assert.deepEqual(r.deregistered, []);
      const rows = await live(repo);
      for (const p of ['stacks/direct', 'stacks/nested', 'stacks/escape']) assert.equal(rows.get(p)!.current_commit, r.after, p);
      assert.equal(rows.get('stacks/other')!.current_commit, other.current_commit, 'other untouched');
      assert.equal(rows.get('stacks/other')!.updated_at.getTime(), other.updated_at.getTime());

      // Workers read git_cache: the module files each stack reads are there at this commit.
      const cached = await env.tdb.db.selectFrom('git_cache').select('path').where('repo_url', '=', repo.url)
        .where('commit_hash', '=', r.after).orderBy('path').execute();
      assert.deepEqual(cached.map((c) => c.path), [
        'modules/wrap/main.tf', 'modules/x/main.tf',
        'stacks/direct/main.tf', 'stacks/direct/stack.hcl',
        'stacks/escape/main.tf', 'stacks/escape/stack.hcl',
        'stacks/nested/main.tf', 'stacks/nested/stack.hcl',
      ]);
    });

    it('a module that stops being used counts as a change for that push, and no longer afterwards', async () => {
      // wrap switches from x to y, and x changes in the same push.
      repo.write({ 'modules/wrap/main.tf': module('y', '../y'), 'modules/x/main.tf': MAIN_TF('x v3') });
      repo.commit('wrap uses y; x v3');
      const r = await pushAndWait(repo);
      assert.deepEqual(sorted(r.updated), ['stacks/direct', 'stacks/escape', 'stacks/nested']);
      assert.equal(r.runsStarted.length, 3);

      // Now x is read by direct and escape only.
      repo.write({ 'modules/x/main.tf': MAIN_TF('x v4') });
      repo.commit('x v4');
      const next = await pushAndWait(repo);
      assert.deepEqual(sorted(next.updated), ['stacks/direct', 'stacks/escape']);
      assert.equal(next.runsStarted.length, 2);

      // And y is read by nested only.
      repo.write({ 'modules/y/main.tf': MAIN_TF('y v2') });
      repo.commit('y v2');
      const y = await pushAndWait(repo);
      assert.deepEqual(y.updated, ['stacks/nested']);
      assert.equal(y.runsStarted.length, 1);

      // A change nobody reads touches no stack.
      repo.write({ 'README.md': '# infra\n', 'modules/unused/main.tf': MAIN_TF('unused') });
      repo.commit('readme');
      const none = await pushAndWait(repo);
      assert.deepEqual(none.updated, []);
      assert.deepEqual(none.registered, []);
      assert.deepEqual(none.runsStarted, []);
    });

    it('a module file that does not parse does not fail the push: the stack reading it counts as changed', async () => {
      repo.write({
        'modules/broken/main.tf': 'module "z" {\n  source = \n}\n',
        'stacks/other/main.tf': MAIN_TF('other') + module('b', '../../modules/broken'),
      });
      repo.commit('other reads a broken module');
      const r = await pushAndWait(repo);
      assert.deepEqual(r.updated, ['stacks/other']);

      // Its module calls are unknown, so any later push re-checks it (the conservative side).
      repo.write({ 'README.md': '# infra, again\n' });
      repo.commit('readme again');
      const again = await pushAndWait(repo);
      assert.deepEqual(again.updated, ['stacks/other']);
      assert.equal(again.runsStarted.length, 1);
    });
  });
});
