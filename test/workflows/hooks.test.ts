/**
 * Hooks and the gaps of issue 7 on real Temporal, Postgres, MinIO, Vault and tofu:
 * - a failing pre_plan webhook hook (a local server answering 500) aborts the run before any plan,
 *   with the reason as an event;
 * - passing webhook hooks receive a body whose X-Stackly-Signature-256 verifies with the secret
 *   (an environment variable of the control worker, never in the repository or history);
 * - a continue_on_failure hook lets the run go on;
 * - a stack naming a policy that does not exist fails with a clear error;
 * - a non-member's rejection does not end a run gated by an approval policy, a member's does;
 * - a destroy run still applies the security rules.
 */
import { grantHookEnv } from '../../db/repos/hook-env-grants';
import { addHookAddress } from '../../db/repos/hook-address-allowlist';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { createSignatureVerifier } from '../../api/signature';
import { progressQuery, stackRunWorkflowId, type RunKind, type RunProgress, type StackRunInput } from '../../workflows/definitions';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import { commitOneResourceStack, decide, waitForPhase, waitForProgress, type OneResourceStackSpec } from './helpers';
import * as h from '../harness/services';

const SECRET_ENV = 'STACKLY_HOOK_SECRET_HOOKSTEST';
const SECRET = `hook-secret-${process.pid}-${Date.now()}`;

interface Delivery { path: string; body: string; signature: string; event: string }

/** The run's final progress, whether the workflow returned it or failed (the query still answers). */
async function outcome(handle: WorkflowHandle): Promise<RunProgress> {
  const res = await handle.result().then((r: RunProgress) => r, () => undefined);
  return res ?? (await handle.query(progressQuery));
}

describe('hooks and policy gaps of StackRunWorkflow on real components', function () {
  this.timeout(600_000);
  let s: Stackly;
  let label: string;
  let repo: ReturnType<typeof makeRepo>;
  let acctId: string;
  let repositoryId: string;
  let server: Server;
  let hookBase: string;
  const deliveries: Delivery[] = [];

  before(async () => {
    process.env[SECRET_ENV] = SECRET;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        deliveries.push({ path: req.url ?? '', body, signature: String(req.headers['x-stackly-signature-256'] ?? ''), event: String(req.headers['x-stackly-event'] ?? '') });
        if (req.url?.startsWith('/fail')) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('quota exceeded');
        } else {
          res.writeHead(204);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hookBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    s = await startStackly('hooks');
    label = s.t.schema;
    repo = makeRepo(h.testStateDir());
    mkdirSync(join(repo.work, 'policies'), { recursive: true });
    writeFileSync(join(repo.work, 'policies', 'main.hcl'), `
policy "protect" {
  security {
    deny_actions {
      resource_types = ["terraform_data"]
      actions        = ["delete", "replace"]
    }
  }
}
policy "admins" {
  environment = "gated"
  approval {
    allowed_groups = ["platform-admins"]
  }
}
`);
    writeFileSync(join(repo.work, 'policies', 'hooks.hcl'), `
hook "quota_check" {
  type       = "webhook"
  url        = "${hookBase}/fail/quota"
  secret_env = "${SECRET_ENV}"
  priority   = 10
  timeout    = "5s"
}
hook "soft_check" {
  type                = "webhook"
  url                 = "${hookBase}/fail/soft"
  secret_env          = "${SECRET_ENV}"
  continue_on_failure = true
}
hook "notify" {
  type       = "webhook"
  url        = "${hookBase}/ok/notify"
  secret_env = "${SECRET_ENV}"
  priority   = 50
}
`);
    const acct = await s.t.db.insertInto('accounts').values({ name: 'acme', temporal_namespace: s.namespace }).returning('id').executeTakeFirstOrThrow();
    acctId = acct.id;
    // Hooks may name only granted STACKLY_HOOK_* names and reach loopback only when allow-listed (issue 15).
    repositoryId = (await s.t.db.insertInto('repositories').values({ account_id: acctId, url: repo.url }).returning('id').executeTakeFirstOrThrow()).id;
    await grantHookEnv(s.t.db, { accountId: acctId, repositoryId, name: SECRET_ENV, by: 'test' });
    await addHookAddress(s.t.db, acctId, '127.0.0.1/32', 'test');
    await s.startExecWorker('exec-hooks', { suite: label });
  });
  after(async () => {
    delete process.env[SECRET_ENV];
    await s?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  /** A one-resource stack at stacks/<name>, committed; returns the ids to start runs with. */
  const stack = (name: string, env: string, body: Omit<OneResourceStackSpec, 'name' | 'env' | 'label' | 'accountId'>) =>
    commitOneResourceStack(s, repo, { name, env, label, accountId: acctId, repositoryId, ...body });

  const start = (ids: { codeId: string; stateId: string; commit: string }, kind: RunKind = 'deploy', author?: string) => s.client.workflow.start('stackRunWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${stackRunWorkflowId(ids.stateId, ids.commit, kind)}-${Date.now()}`,
    args: [{ stateId: ids.stateId, stackCodeId: ids.codeId, commit: ids.commit, kind, trigger: { type: 'push', by: 'tester', ...(author ? { author } : {}) } } satisfies StackRunInput],
  });

  const events = async (workflowId: string) => {
    const op = await s.t.db.selectFrom('operations').select('id').where('workflow_id', '=', workflowId).executeTakeFirstOrThrow();
    return s.t.db.selectFrom('events').select(['type', 'payload']).where('operation_id', '=', op.id).orderBy('id').execute();
  };
  const payload = (e: { payload: unknown }) => e.payload as Record<string, unknown>;

  it('a failing pre_plan webhook hook aborts the run before any plan, with the reason as an event', async () => {
    const ids = await stack('blocked', 'test', { hooks: '  hooks {\n    pre_plan = ["notify", "quota_check"]\n  }' });
    deliveries.length = 0;
    const handle = await start(ids);
    const p = await outcome(handle);
    assert.equal(p.phase, 'failed');
    assert.match(p.error ?? '', /pre_plan hook "quota_check" failed: POST to 127\.0\.0\.1:\d+: HTTP 500 Internal Server Error: quota exceeded/);
    assert.equal(p.review, undefined, 'no review plan');
    const ev = await events(handle.workflowId);
    const types = ev.map((e) => e.type);
    assert.ok(!types.includes('plan_completed') && !types.includes('deploy_initiated'), `no plan, nothing applied (have ${types.join(', ')})`);
    // Priority order: quota_check (10) before notify (50); notify is then skipped, never sent.
    const hookEvents = ev.filter((e) => e.type === 'hook_completed' || e.type === 'hook_failed').map(payload);
    assert.deepEqual(hookEvents.map((x) => [x.hook, x.ok, x.blocking, x.skipped ?? false]), [['quota_check', false, true, false], ['notify', false, false, true]]);
    assert.match(String(hookEvents[0]!.message), /HTTP 500/);
    const failed = ev.find((e) => e.type === 'deploy_failed');
    assert.match(String(payload(failed!).error), /pre_plan hook "quota_check" failed/);
    assert.deepEqual(deliveries.map((d) => d.path), ['/fail/quota']);
  });

  it('passing webhook hooks get a signed body that verifies with the secret; a continue_on_failure hook lets the run go on', async () => {
    const ids = await stack('hooked', 'test', { hooks: '  hooks {\n    pre_plan   = ["soft_check", "builtin.record"]\n    pre_apply  = ["builtin.no_destroy"]\n    post_apply = ["notify"]\n  }' });
    deliveries.length = 0;
    const handle = await start(ids);
    const p = await outcome(handle);
    assert.equal(p.phase, 'succeeded', p.error);

    const ev = await events(handle.workflowId);
    const hookEvents = ev.filter((e) => e.type === 'hook_completed' || e.type === 'hook_failed').map((e) => ({ ...payload(e), type: e.type as string }) as Record<string, unknown>);
    assert.deepEqual(hookEvents.map((x) => [x.type, x.event, x.hook, x.ok]), [
      ['hook_failed', 'pre_plan', 'soft_check', false],
      ['hook_completed', 'pre_plan', 'builtin.record', true],
      ['hook_completed', 'pre_apply', 'builtin.no_destroy', true],
      ['hook_completed', 'post_apply', 'notify', true],
    ]);
    assert.equal(hookEvents[0]!.blocking, false);
    assert.equal(hookEvents[0]!.continue_on_failure, true);
    const types = ev.map((e) => e.type);
    assert.ok(types.indexOf('hook_failed') < types.indexOf('plan_completed'), 'pre_plan hooks ran before the plan');
    assert.ok(types.lastIndexOf('hook_completed') > types.indexOf('deploy_initiated'), 'post_apply after the apply');

    const notify = deliveries.find((d) => d.path === '/ok/notify');
    assert.ok(notify, `notify was called (got ${deliveries.map((d) => d.path).join(', ')})`);
    assert.match(notify.signature, /^sha256=[0-9a-f]{64}$/);
    const verify = await createSignatureVerifier();
    assert.equal(await verify(SECRET, notify.body, notify.signature), true, 'the signature verifies with the secret');
    assert.equal(await verify('wrong', notify.body, notify.signature), false);
    const body = JSON.parse(notify.body) as Record<string, unknown>;
    assert.equal(body.event, 'post_apply');
    assert.equal(body.run_id, handle.workflowId);
    assert.equal(body.stack, 'hooked');
    assert.equal(body.state, 'test');
    assert.equal(body.commit, ids.commit);
    assert.equal(body.outcome, 'succeeded');
    assert.deepEqual(body.plan, { add: 1, change: 0, destroy: 0, replace: 0 });
    const soft = deliveries.find((d) => d.path === '/fail/soft');
    assert.ok(soft && (await verify(SECRET, soft.body, soft.signature)));

    // The secret is nowhere in the run's history or its events.
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(!history.includes(SECRET), 'secret not in Temporal history');
    assert.ok(!JSON.stringify(ev).includes(SECRET), 'secret not in events');
  });

  it('a stack naming a policy that does not exist fails with a clear error', async () => {
    const ids = await stack('misnamed', 'test', { policies: ['protect', 'no_such_policy'] });
    const handle = await start(ids);
    const p = await outcome(handle);
    assert.equal(p.phase, 'failed');
    assert.match(p.error ?? '', /stacks\/misnamed\/stack\.hcl:\d+: policy "no_such_policy", field policies: .*names policy "no_such_policy", which does not exist in policies\/\*\.hcl \(known: admins, protect\)/);
    const types = (await events(handle.workflowId)).map((e) => e.type);
    assert.ok(!types.includes('plan_completed'), `no plan (have ${types.join(', ')})`);
  });

  it('a non-member\'s rejection does not end a run gated by an approval policy; a member\'s does', async () => {
    const ids = await stack('gated', 'gated', { policies: ['admins'] });
    const handle = await start(ids, 'deploy', 'carol');
    await waitForPhase(handle, ['awaiting_approval'], 180_000);
    await decide(s, handle, { decision: 'reject', by: 'mallory', groups: ['dev'], comment: 'no' });
    await decide(s, handle, { decision: 'reject', by: 'carol', groups: ['platform-admins'], comment: 'my own run' });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await handle.query(progressQuery)).phase, 'awaiting_approval', 'non-member and author rejections do not count');
    await decide(s, handle, { decision: 'reject', by: 'alice', groups: ['platform-admins'], comment: 'too risky' });
    const p = await outcome(handle);
    assert.equal(p.phase, 'rejected');
    assert.equal(p.error, 'rejected by alice: too risky');
    const ev = await events(handle.workflowId);
    const ignored = ev.filter((e) => e.type === 'approval_rejected').map(payload);
    assert.deepEqual(ignored.map((x) => [x.by, x.counted]), [['mallory', false], ['carol', false]]);
    assert.match(String(ignored[0]!.reason), /not a member of platform-admins/);
    assert.ok(!ev.some((e) => e.type === 'deploy_initiated'));
  });

  it('post_apply hooks also run when the run is cancelled while applying (outcome cancelled)', async () => {
    // The activity that applies: planApplyUnit (a plan that fits), applyUnit (after an approved difference).
    const APPLIES = ['planApplyUnit', 'applyUnit'];
    const ids = await stack('slow', 'test', {
      hooks: '  hooks {\n    post_apply = ["notify"]\n  }',
      extraTf: 'resource "terraform_data" "slow" {\n  provisioner "local-exec" {\n    command = "sleep 30"\n  }\n}\n',
    });
    const seen = deliveries.length;
    const handle = await start(ids);
    await waitForProgress(handle, (p) => Object.values(p.units).some((u) => u.status === 'applying'), 'a unit applying');
    // …and its apply activity running on the worker (tofu holds the state lock, the provisioner sleeps).
    for (let i = 0; ; i++) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      if (pending.some((a) => APPLIES.includes(a.activityType?.name ?? '') && a.lastStartedTime)) break;
      assert.ok(i < 300, 'the apply activity started');
      await new Promise((r) => setTimeout(r, 200));
    }
    await handle.cancel();
    const p = await outcome(handle);
    assert.equal(p.phase, 'cancelled');
    const notify = deliveries.slice(seen).find((d) => d.path === '/ok/notify');
    assert.ok(notify, 'the post_apply hook was called');
    const body = JSON.parse(notify.body) as Record<string, unknown>;
    assert.equal(body.event, 'post_apply');
    assert.equal(body.outcome, 'cancelled');
    // The hooks ran only once the cancelled apply had ended on its worker (tofu stopped and released
    // its state lock), not as soon as the cancellation was asked for.
    const events = (await handle.fetchHistory()).events ?? [];
    const applyScheduled = events.find((e) => APPLIES.includes(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''));
    assert.ok(applyScheduled, 'the apply was scheduled');
    const applyEnded = events.findIndex((e) => (e.activityTaskCanceledEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskCompletedEventAttributes)?.scheduledEventId?.toString() === applyScheduled.eventId?.toString());
    const hooksScheduled = events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).lastIndexOf('runHooks');
    assert.ok(applyEnded >= 0 && applyEnded < hooksScheduled, `apply ended (event #${applyEnded}) before the post_apply hooks were scheduled (#${hooksScheduled})`);
  });

  it('a destroy run still applies the security rules: deleting a protected type is refused with the address', async () => {
    const ids = await stack('kept', 'test', { policies: ['protect'] });
    const first = await outcome(await start(ids));
    assert.equal(first.phase, 'succeeded', first.error);
    // Refused up front, from the destroy review plan: nobody is asked to approve a refused destroy.
    const handle = await start(ids, 'destroy');
    const p = await outcome(handle);
    assert.equal(p.phase, 'failed');
    assert.match(p.error ?? '', /refused by policy: protect\/deny_actions terraform_data\.db/);
    assert.ok(p.review?.changes.some((c) => c.address === 'terraform_data.db' && c.actions.includes('delete')), JSON.stringify(p.review));
    const ev = await events(handle.workflowId);
    const check = ev.find((e) => e.type === 'policy_check' && payload(e).stage === 'post_plan');
    assert.equal(payload(check!).outcome, 'fail');
    assert.ok(!ev.some((e) => e.type === 'activity_started' && payload(e).step === 'apply'), 'nothing destroyed');
    const state = await s.t.db.selectFrom('stack_states').select('status').where('id', '=', ids.stateId).executeTakeFirstOrThrow();
    assert.equal(state.status, 'active');
  });
});
