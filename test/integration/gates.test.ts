/**
 * Gates a push cannot weaken, and only the tracked branch deploys (issue 15), against real Postgres:
 * - account policies through the API (admin only, validated, one policy block named like the route);
 * - loadRunContext (the activity every run starts with) gives the run the account's matching
 *   policies and the deployed commit's gates read from git (the git cache) at that commit, and the
 *   stricter settings: a push that removes its approval policy or sets auto_deploy = true still
 *   waits; once deployed, the next run uses the new settings; a first deploy uses the pushed commit's;
 * - an API-started run of a commit off the tracked branch is refused with a recorded event;
 * - the webhook receiver: no repository without its own secret outside development, the global
 *   secret refused, the same body under a new delivery id refused as a replay.
 * (The end-to-end runs with Temporal and tofu are in test/workflows/gates-e2e.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createRunActivities } from '../../activities/runs';
import { buildApi } from '../../api/server';
import { createLogger } from '../../common/logger';
import { stateKeyPrefix } from '../../common/state-keys';
import { namespaceClients } from '../../common/temporal';
import { ensureAccount } from '../../db/repos/accounts';
import { putFiles } from '../../db/repos/git-cache';
import { stricterHooks, stricterPolicies } from '../../policies';
import { parseStackConfig } from '../../activities/hcl/stack-config';
import { approvalGate, hasApprovalPolicy } from '../../workflows/gates';
import type { StackRunInput } from '../../workflows/definitions';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

const REPO_URL = 'https://github.com/acme/gates.git';
const DEPLOYED = 'a'.repeat(40);
const PUSHED = 'b'.repeat(40);
const GLOBAL = 'gates-global-webhook-secret-0123';
const REPO_SECRET = 'gates-repository-secret-0123456789';

const stackHcl = (opts: { autoDeploy: boolean; policies?: string[]; preApply?: string[]; environment?: string }) => `stack "net" {
  environment = "${opts.environment ?? 'prod'}"
  auto_deploy = ${opts.autoDeploy}
  policies    = [${(opts.policies ?? []).map((p) => `"${p}"`).join(', ')}]
  hooks {
    pre_apply = [${(opts.preApply ?? []).map((p) => `"${p}"`).join(', ')}]
  }
}
`;
const APPROVAL_HCL = `policy "prod_approval" {
  approval {
    min_approvers  = 2
    allowed_groups = ["platform"]
  }
}
`;

describe('gates a push cannot weaken; only the tracked branch deploys (real Postgres)', function () {
  this.timeout(120_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let connection: Connection;
  let admin: TestPrincipal;
  let operator: TestPrincipal;
  let accountId: string;
  let repositoryId: string;
  let stackCodeId: string;
  let stateId: string;
  const unreachable = new Set<string>();

  const call = (who: TestPrincipal | undefined, method: string, url: string, payload?: unknown) =>
    app.inject({ method: method as 'GET', url, headers: who ? who.auth : {}, ...(payload !== undefined ? { payload: payload as object } : {}) });

  /** Registers the stack as the push of PUSHED would: its config (stack.hcl at PUSHED) and its state deployed at `deployed`. */
  async function stack(pushed: string, deployed: string, files: { deployed: Record<string, string>; pushed: Record<string, string> }) {
    await tdb.db.deleteFrom('git_cache').execute();
    await putFiles(tdb.db, REPO_URL, deployed, Object.entries(files.deployed).map(([path, t]) => ({ path, content: Buffer.from(t) })));
    await putFiles(tdb.db, REPO_URL, pushed, Object.entries(files.pushed).map(([path, t]) => ({ path, content: Buffer.from(t) })));
    const config = await parseStackConfig(files.pushed['stacks/net/stack.hcl']!, 'stacks/net/stack.hcl');
    await tdb.db.updateTable('stack_codes').set({ config: JSON.stringify(config), current_commit: pushed }).where('id', '=', stackCodeId).execute();
    await tdb.db.updateTable('stack_states').set({ commit_hash: deployed }).where('id', '=', stateId).execute();
  }
  const acts = () => createRunActivities({
    db: tdb.db, logger: createLogger('test', 'silent'),
    unreachableCommits: async (_repo, commits) => commits.filter((c) => unreachable.has(c)),
  });
  const input = (commit: string, trigger: StackRunInput['trigger'] = { type: 'push', by: 'github:d1', author: 'mallory' }): StackRunInput =>
    ({ stateId, stackCodeId, commit, kind: 'deploy', trigger, generation: 1 });
  /** What the run's analysis does with its context (workflows/stack-run/analysis.ts), given the pushed commit's own policies. */
  const runGates = (ctx: Awaited<ReturnType<ReturnType<typeof acts>['loadRunContext']>>, own: Parameters<typeof stricterPolicies>[0] = []) => ({
    policies: stricterPolicies(own, ctx.gates, { current: ctx.environment, state: ctx.state }),
    hooks: stricterHooks({ pre_plan: [], post_plan: [], pre_apply: [], post_apply: [], drift_detected: [] }, ctx.gates?.deployed),
  });

  before(async () => {
    tdb = await createTestDb('gates');
    const acme = await ensureAccount(tdb.db, 'acme', 'stackly');
    accountId = acme.id;
    admin = await createPrincipal(tdb.db, { accountId, login: 'gates-admin', role: 'admin' });
    operator = await createPrincipal(tdb.db, { accountId, login: 'gates-operator', role: 'operator' });
    repositoryId = (await tdb.db.insertInto('repositories').values({
      account_id: accountId, url: REPO_URL, tracked_branch: 'main', webhook_secret_enc: REPO_SECRET, credentials_enc: null,
    }).returning('id').executeTakeFirstOrThrow()).id;
    stackCodeId = (await tdb.db.insertInto('stack_codes').values({
      account_id: accountId, repo_url: REPO_URL, repository_id: repositoryId, repo_path: 'stacks/net', name: 'net', current_commit: PUSHED, config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow()).id;
    stateId = randomUUID();
    await tdb.db.insertInto('stack_states').values({
      id: stateId, account_id: accountId, stack_code_id: stackCodeId, name: 'prod', commit_hash: DEPLOYED,
      tf_state_key: stateKeyPrefix('acme', stateId), variables: '{}', metadata: '{}', status: 'active',
    }).execute();
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    app = await buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: accountId,
      webhookSecret: GLOBAL, secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      bodyLimitBytes: 1 << 20, temporalTimeoutMs: 300,
    });
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });
  afterEach(async () => {
    await tdb.db.deleteFrom('account_policies').execute();
  });

  describe('the deployed commit\'s gates', () => {
    it('a push that removes its approval policy still needs that approval in the run that removes it', async () => {
      await stack(PUSHED, DEPLOYED, {
        deployed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true, policies: ['prod_approval'] }), 'policies/approval.hcl': APPROVAL_HCL },
        pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
      });
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.deepEqual(ctx.gates?.deployed?.policies.map((p) => p.name), ['prod_approval']);
      const g = { policies: runGates(ctx).policies, environment: ctx.environment, state: ctx.state, author: ctx.authors };
      assert.equal(hasApprovalPolicy(g), true);
      const one = [{ approver: 'ann', groups: ['platform'], decision: 'approve' as const }];
      assert.equal(approvalGate(g, Date.now(), one).verdict, 'require_approval', 'still two of platform');
      assert.equal(approvalGate(g, Date.now(), [...one, { approver: 'mallory', groups: ['platform'], decision: 'approve' }]).verdict, 'require_approval', 'the author does not count');
      assert.equal(approvalGate(g, Date.now(), [...one, { approver: 'bob', groups: ['platform'], decision: 'approve' }]).verdict, 'allow');
    });

    it('a push that sets auto_deploy = true still waits; once it is deployed, the next run uses it', async () => {
      await stack(PUSHED, DEPLOYED, {
        deployed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: false }) },
        pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
      });
      assert.equal((await acts().loadRunContext(input(PUSHED))).config.autoDeploy, false);
      // Deployed (approved): the state's deployed commit is now the pushed one.
      const NEXT = 'c'.repeat(40);
      await stack(NEXT, PUSHED, {
        deployed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
        pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
      });
      const next = await acts().loadRunContext(input(NEXT));
      assert.equal(next.config.autoDeploy, true);
      assert.equal(next.approvalRequired, undefined);
    });

    it('a stack that moved since its deployed commit: the deployed gates are read where it was', async () => {
      await stack(PUSHED, DEPLOYED, {
        deployed: { 'stacks/old/stack.hcl': stackHcl({ autoDeploy: true, policies: ['prod_approval'] }), 'policies/approval.hcl': APPROVAL_HCL },
        pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
      });
      await tdb.db.insertInto('events').values({
        account_id: accountId, stack_code_id: stackCodeId, type: 'module_moved', payload: JSON.stringify({ from_path: 'stacks/old', to_path: 'stacks/net' }),
      }).execute();
      try {
        const ctx = await acts().loadRunContext(input(PUSHED));
        assert.deepEqual(ctx.gates?.deployed?.policies.map((p) => p.name), ['prod_approval']);
        assert.equal(ctx.approvalRequired, undefined);
      } finally {
        await tdb.db.deleteFrom('events').where('type', '=', 'module_moved').execute();
      }
    });

    it('a removed pre_apply hook still runs', async () => {
      await stack(PUSHED, DEPLOYED, {
        deployed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true, preApply: ['builtin.no_destroy'] }) },
        pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) },
      });
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.deepEqual(runGates(ctx).hooks.pre_apply.map((h) => h.name), ['builtin.no_destroy']);
    });

    it('first deploy (the state\'s commit is the pushed one): the pushed commit\'s settings', async () => {
      await stack(PUSHED, PUSHED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.equal(ctx.config.autoDeploy, true);
      assert.equal(ctx.gates?.deployed, undefined);
    });

    it('a state never deployed (the null commit) is a first deploy too', async () => {
      await stack(PUSHED, '0'.repeat(40), { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.equal(ctx.config.autoDeploy, true);
      assert.equal(ctx.approvalRequired, undefined);
    });

    it('a deployed commit missing from the git cache is read from git at that commit', async () => {
      await stack(PUSHED, DEPLOYED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      const asked: string[] = [];
      const withGit = createRunActivities({
        db: tdb.db, logger: createLogger('test', 'silent'),
        fillGitCache: async (repo, commit, dirs) => {
          asked.push(`${repo.branch} ${commit} ${dirs.join(',')}`);
          await putFiles(tdb.db, REPO_URL, commit, [{ path: 'stacks/net/stack.hcl', content: Buffer.from(stackHcl({ autoDeploy: false })) }]);
        },
      });
      const ctx = await withGit.loadRunContext(input(PUSHED));
      assert.deepEqual(asked, [`main ${DEPLOYED} stacks/net`]);
      assert.equal(ctx.config.autoDeploy, false, 'the deployed commit (read from git) did not auto-deploy');
      assert.equal(ctx.approvalRequired, undefined);
    });

    it('a deployed commit whose gates cannot be read makes the run ask for approval (fail closed)', async () => {
      await stack(PUSHED, DEPLOYED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.equal(ctx.config.autoDeploy, false);
      assert.match(ctx.approvalRequired ?? '', /could not be read: stacks\/net\/stack.hcl is not in the git cache/);
    });
  });

  describe('account policies', () => {
    it('admin only; validated; one policy block named like the route', async () => {
      const hcl = 'policy "prod_approval" {\n  approval {\n    allowed_groups = ["sre"]\n  }\n}\n';
      assert.equal((await call(operator, 'PUT', '/api/policies/prod_approval', { hcl })).statusCode, 403);
      assert.equal((await call(undefined, 'PUT', '/api/policies/prod_approval', { hcl })).statusCode, 401);
      const bad = await call(admin, 'PUT', '/api/policies/prod_approval', { hcl: 'policy "prod_approval" {\n  approval {\n    min_approvers = 0\n  }\n}\n' });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error.message, /min_approvers/);
      const wrongName = await call(admin, 'PUT', '/api/policies/other', { hcl });
      assert.equal(wrongName.statusCode, 400);
      assert.match(wrongName.json().error.message, /exactly one policy block, named "other"/);
      const hook = await call(admin, 'PUT', '/api/policies/prod_approval', { hcl: `${hcl}hook "h" {\n  type = "record"\n  message = "x"\n}\n` });
      assert.equal(hook.statusCode, 400);
      const badSelector = await call(admin, 'PUT', '/api/policies/prod_approval', { hcl, selector: { team: 'x' } });
      assert.equal(badSelector.statusCode, 400);
      const created = await call(admin, 'PUT', '/api/policies/prod_approval', { hcl, selector: { environment: 'prod' } });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal((await call(admin, 'PUT', '/api/policies/prod_approval', { hcl, selector: { environment: 'prod' } })).statusCode, 200);
      const list = await call(operator, 'GET', '/api/policies');
      assert.equal(list.statusCode, 200);
      assert.deepEqual(list.json().items.map((p: { name: string; selector: unknown }) => [p.name, p.selector]), [['prod_approval', { environment: 'prod' }]]);
      assert.equal((await call(operator, 'DELETE', '/api/policies/prod_approval')).statusCode, 403);
      assert.equal((await call(admin, 'DELETE', '/api/policies/prod_approval')).statusCode, 204);
      assert.equal((await call(admin, 'GET', '/api/policies/prod_approval')).statusCode, 404);
    });

    it('applies to a stack that names no policy, by selector; the stack cannot shadow it', async () => {
      await stack(PUSHED, PUSHED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      const hcl = (name: string) => `policy "${name}" {\n  approval {\n    allowed_groups = ["sre"]\n  }\n}\n`;
      for (const [name, selector] of [
        ['by_env', { environment: 'prod' }], ['by_path', { path: 'stacks/**' }], ['by_repo', { repository: REPO_URL }],
        ['not_dev', { environment: 'dev' }], ['not_other_path', { path: 'apps/*' }], ['not_other_repo', { repository: 'https://github.com/acme/x.git' }],
      ] as const) {
        assert.equal((await call(admin, 'PUT', `/api/policies/${name}`, { hcl: hcl(name), selector })).statusCode, 201);
      }
      const ctx = await acts().loadRunContext(input(PUSHED));
      assert.deepEqual(ctx.gates?.account.map((p) => p.name), ['account:by_env', 'account:by_path', 'account:by_repo']);
      // The stack defines a policy of the same name that anyone may approve: it does not replace the account's.
      const own = [{ name: 'account:by_env', file: 'policies/x.hcl', line: 1, approval: { required: true, minApprovers: 1, allowedGroups: [], allowAuthor: true } }];
      const g = { policies: runGates(ctx, own).policies, environment: ctx.environment, state: ctx.state };
      assert.equal(approvalGate(g, Date.now(), [{ approver: 'eve', groups: [], decision: 'approve' }]).verdict, 'require_approval');
      assert.equal(approvalGate(g, Date.now(), [{ approver: 'ann', groups: ['sre'], decision: 'approve' }]).verdict, 'allow');
    });

    it('another account\'s policies never apply', async () => {
      const beta = await ensureAccount(tdb.db, 'beta', 'stackly-beta');
      const betaAdmin = await createPrincipal(tdb.db, { accountId: beta.id, login: 'beta-admin', role: 'admin' });
      assert.equal((await call(betaAdmin, 'PUT', '/api/policies/theirs', { hcl: 'policy "theirs" {\n  approval {}\n}\n' })).statusCode, 201);
      await stack(PUSHED, PUSHED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      assert.deepEqual((await acts().loadRunContext(input(PUSHED))).gates?.account, []);
      assert.deepEqual((await call(admin, 'GET', '/api/policies')).json().items, []);
    });
  });

  describe('only the tracked branch deploys', () => {
    it('an API-started run of a commit off the tracked branch is refused, with an event', async () => {
      const OFF = 'e'.repeat(40);
      unreachable.add(OFF);
      await stack(OFF, OFF, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      await assert.rejects(acts().loadRunContext(input(OFF, { type: 'manual', by: 'gates-operator', author: 'gates-operator' })),
        (e: Error & { type?: string }) => e.type === 'CommitNotOnBranch' && /not reachable from the tracked branch main/.test(e.message));
      const ev = await tdb.db.selectFrom('events').selectAll().where('type', '=', 'run_refused').executeTakeFirstOrThrow();
      assert.equal(ev.stack_state_id, stateId);
      assert.equal((ev.payload as { commit: string }).commit, OFF);
      // A commit of the branch starts.
      await stack(PUSHED, PUSHED, { deployed: {}, pushed: { 'stacks/net/stack.hcl': stackHcl({ autoDeploy: true }) } });
      await acts().loadRunContext(input(PUSHED, { type: 'manual', by: 'gates-operator' }));
    });
  });

  describe('webhook secrets and replays', () => {
    const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    const post = (body: string, secret: string, deliveryId: string = randomUUID()) => app.inject({
      method: 'POST', url: '/webhooks/github', payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': deliveryId, 'x-hub-signature-256': sign(secret, body) },
    });
    const payload = (url: string, after = PUSHED) => JSON.stringify({ ref: 'refs/heads/main', before: DEPLOYED, after, repository: { clone_url: url } });
    const row = (id: string) => tdb.db.selectFrom('webhook_deliveries').selectAll().where('delivery_id', '=', id).executeTakeFirst();

    it('registering a repository without its own webhook secret is refused outside development', async () => {
      const r = await call(admin, 'POST', '/api/repositories', { url: 'https://github.com/acme/nosecret.git' });
      assert.equal(r.statusCode, 400);
      assert.match(r.json().error.message, /webhook_secret: required/);
      assert.equal((await call(admin, 'POST', '/api/repositories', { url: 'https://github.com/acme/withsecret.git', webhook_secret: 'with-its-own-secret-0123456789' })).statusCode, 201);
    });

    it('a delivery signed with the global secret is refused, for a repository without a secret or none registered', async () => {
      // A repository registered without a secret before this version.
      const legacyUrl = 'https://github.com/acme/legacy.git';
      await tdb.db.insertInto('repositories').values({ account_id: accountId, url: legacyUrl, tracked_branch: 'main', webhook_secret_enc: null, credentials_enc: null }).execute();
      const id = randomUUID();
      const r = await post(payload(legacyUrl), GLOBAL, id);
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().error.code, 'global_secret_refused');
      assert.equal(await row(id), undefined, 'not stored: its redelivery is handled once the repository has a secret');
      const unknown = await post(payload('https://github.com/acme/unknown.git'), GLOBAL);
      assert.equal(unknown.statusCode, 401);
      // The global secret does not stand in for a repository's own.
      assert.equal((await post(payload(REPO_URL), GLOBAL)).statusCode, 401);
      // An admin gives the legacy repository its own secret: its deliveries verify with it (503 here: no Temporal).
      const legacy = await tdb.db.selectFrom('repositories').select('id').where('url', '=', legacyUrl).executeTakeFirstOrThrow();
      assert.equal((await call(operator, 'PUT', `/api/repositories/${legacy.id}/webhook-secret`, { webhook_secret: 'legacy-own-secret-0123456789' })).statusCode, 403);
      assert.equal((await call(admin, 'PUT', `/api/repositories/${legacy.id}/webhook-secret`, { webhook_secret: 'short' })).statusCode, 400);
      const set = await call(admin, 'PUT', `/api/repositories/${legacy.id}/webhook-secret`, { webhook_secret: 'legacy-own-secret-0123456789' });
      assert.equal(set.statusCode, 200, set.body);
      assert.equal(set.json().has_webhook_secret, true);
      assert.ok(!set.body.includes('legacy-own-secret'), 'never returned');
      assert.equal((await post(payload(legacyUrl), 'legacy-own-secret-0123456789', id)).statusCode, 503, 'the redelivery of the refused id is handled');
    });

    it('the same body under a new delivery id is refused as a replay (409, recorded); the same id is a duplicate', async () => {
      const body = payload(REPO_URL, 'f'.repeat(40));
      const first = await post(body, REPO_SECRET, 'first-delivery');
      // Temporal is unreachable here: 503, the delivery stays received (the point is what is stored).
      assert.equal(first.statusCode, 503);
      assert.equal((await row('first-delivery'))?.status, 'received');
      const redelivered = await post(body, REPO_SECRET, 'first-delivery');
      assert.equal(redelivered.statusCode, 503, 'a redelivery under the same id is the same delivery');
      const replay = await post(body, REPO_SECRET, 'replayed-delivery');
      assert.equal(replay.statusCode, 409);
      assert.equal(replay.json().code, 'replayed_delivery');
      const stored = await row('replayed-delivery');
      assert.equal(stored?.status, 'refused');
      assert.match(stored?.reason ?? '', /delivered as first-delivery/);
      // Concurrent replays: one stored, every other refused.
      const body2 = payload(REPO_URL, '9'.repeat(40));
      const many = await Promise.all(Array.from({ length: 5 }, (_, i) => post(body2, REPO_SECRET, `concurrent-${i}`)));
      assert.equal(many.filter((m) => m.statusCode === 409).length, 4, many.map((m) => m.statusCode).join(','));
      // A different body (another push) is not a replay.
      assert.equal((await post(payload(REPO_URL, '8'.repeat(40)), REPO_SECRET)).statusCode, 503);
    });
  });
});
