/**
 * Policy gates of StackRunWorkflow (issue 7) on real Temporal, Postgres, MinIO, Vault and tofu:
 * a plan that replaces a protected resource type is refused with the address in the reason; a run
 * needing two approvers from a group goes on only after the second valid approval; a run outside
 * its deployment window waits (phase queued, durable timer) and applies when the window opens.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { approveSignal, progressQuery, stackRunWorkflowId, type RunProgress, type StackRunInput } from '../../workflows/definitions';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import { commitOneResourceStack, decide, waitForPhase } from './helpers';
import * as h from '../harness/services';

const POLICIES = `
policy "protect" {
  security {
    deny_actions {
      resource_types = ["terraform_data"]
      actions        = ["delete", "replace"]
    }
  }
}
policy "two_admins" {
  environment = "prod"
  approval {
    min_approvers  = 2
    allowed_groups = ["platform-admins"]
  }
}
`;

describe('policy gates of StackRunWorkflow on real components', function () {
  this.timeout(600_000);
  let s: Stackly;
  let label: string;
  let repo: ReturnType<typeof makeRepo>;
  let acctId: string;

  before(async () => {
    s = await startStackly('policies');
    label = s.t.schema;
    repo = makeRepo(h.testStateDir());
    mkdirSync(join(repo.work, 'policies'), { recursive: true });
    writeFileSync(join(repo.work, 'policies', 'main.hcl'), POLICIES);
    const acct = await s.t.db.insertInto('accounts').values({ name: 'acme', temporal_namespace: s.namespace }).returning('id').executeTakeFirstOrThrow();
    acctId = acct.id;
    await s.startExecWorker('exec-pol', { suite: label });
  });
  after(async () => { await s?.stop(); });

  /** A one-resource stack at stacks/<name>, committed; returns the ids to start runs with. */
  const stack = (name: string, env: string, policies: string[], trigger: string, autoDeploy: boolean) =>
    commitOneResourceStack(s, repo, { name, env, label, accountId: acctId, policies, trigger, autoDeploy });

  const start = (ids: { codeId: string; stateId: string; commit: string }, author?: string) => s.client.workflow.start('stackRunWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${stackRunWorkflowId(ids.stateId, ids.commit, 'deploy')}-${Date.now()}`,
    args: [{ stateId: ids.stateId, stackCodeId: ids.codeId, commit: ids.commit, kind: 'deploy', trigger: { type: 'push', by: 'tester', ...(author ? { author } : {}) } } satisfies StackRunInput],
  });

  const events = async (workflowId: string) => {
    const op = await s.t.db.selectFrom('operations').select('id').where('workflow_id', '=', workflowId).executeTakeFirstOrThrow();
    return s.t.db.selectFrom('events').select(['type', 'payload']).where('operation_id', '=', op.id).orderBy('id').execute();
  };

  it('refuses a plan that replaces a protected resource type, naming the address; decisions are events', async () => {
    const v1 = await stack('guarded', 'test', ['protect'], 'v1', true);
    const first = (await (await start(v1)).result()) as RunProgress;
    assert.equal(first.phase, 'succeeded', first.error);

    const v2 = await stack('guarded', 'test', ['protect'], 'v2', true);
    const handle = await start(v2);
    const err = await handle.result().then(() => undefined, (e: Error) => e);
    const progress = await handle.query(progressQuery).catch(() => undefined);
    const msg = progress?.error ?? String((err?.cause as Error | undefined)?.message ?? err);
    assert.match(msg, /terraform_data\.db/);
    assert.match(msg, /protect/);
    const ev = await events(handle.workflowId);
    const check = ev.find((e) => e.type === 'policy_check' && (e.payload as { stage?: string }).stage === 'post_plan');
    assert.ok(check, `a post_plan policy_check event (have ${ev.map((e) => e.type).join(', ')})`);
    const p = check.payload as { outcome: string; decisions: Array<{ address?: string; outcome: string }> };
    assert.equal(p.outcome, 'fail');
    assert.ok(p.decisions.some((d) => d.address === 'terraform_data.db' && d.outcome === 'deny'));
    assert.ok(!ev.some((e) => e.type === 'deploy_initiated'), 'nothing applied');
  });

  it('queues a run outside its deployment window and applies when the window opens', async () => {
    // A window opening at the next whole minute at least 30 s from now (the run is queued within a few
    // seconds; windows have minute granularity), 10 minutes long (UTC).
    const opens = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    writeFileSync(join(repo.work, 'policies', 'window.hcl'), `policy "short_window" {\n  environment = "win"\n  schedule {\n    allowed_hours = ["${hhmm(opens)}-${hhmm(new Date(opens.getTime() + 600_000))}"]\n  }\n}\n`);
    const ids = await stack('windowed', 'win', ['short_window'], 'v1', true);
    const handle = await start(ids);
    const queued = await waitForPhase(handle, ['queued'], 180_000);
    assert.match(queued.waitingReason ?? '', /deployment window/);
    assert.ok(Date.now() < opens.getTime(), 'queued before the window opens');
    const result = (await handle.result()) as RunProgress;
    assert.equal(result.phase, 'succeeded', result.error);
    assert.ok(Date.now() >= opens.getTime(), 'applied only once the window opened');
    const ev = await events(handle.workflowId);
    const types = ev.map((e) => e.type);
    const q = ev.findIndex((e) => e.type === 'policy_check' && (e.payload as { outcome?: string }).outcome === 'queue');
    assert.ok(q >= 0 && q < types.indexOf('deploy_initiated'), `queue decision recorded before deploy (have ${types.join(', ')})`);
  });

  it('needs two approvers from the group, recorded by the api: a forged signal, a non-member, a duplicate and the author do not count', async () => {
    const ids = await stack('gated', 'prod', ['two_admins'], 'v1', true);
    const handle = await start(ids, 'carol');
    await waitForPhase(handle, ['awaiting_approval'], 180_000);
    const admins = ['platform-admins'];
    // Anyone who reaches Temporal can signal: a signal that claims a group adds no approval.
    await handle.signal(approveSignal, { by: 'alice', groups: admins });
    await handle.signal(approveSignal, { by: 'bob', groups: admins });
    await new Promise((r) => setTimeout(r, 1500));
    const forged = await handle.query(progressQuery);
    assert.equal(forged.phase, 'awaiting_approval', 'signals sent straight to Temporal count for nothing');
    assert.deepEqual(forged.approvals, [], 'and are not shown as approvals');
    await decide(s, handle, { by: 'mallory', groups: ['dev'] });
    await decide(s, handle, { by: 'alice', groups: admins });
    await decide(s, handle, { by: 'alice', groups: admins });
    await decide(s, handle, { by: 'carol', groups: admins });
    await new Promise((r) => setTimeout(r, 1500));
    const still = await handle.query(progressQuery);
    assert.equal(still.phase, 'awaiting_approval', `still waiting: ${still.waitingReason}`);
    assert.match(still.waitingReason ?? '', /1 more/);
    await decide(s, handle, { by: 'bob', groups: admins });
    const result = (await handle.result()) as RunProgress;
    assert.equal(result.phase, 'succeeded', result.error);
    const ev = await events(handle.workflowId);
    const received = ev.find((e) => e.type === 'approval_received');
    assert.deepEqual([...((received?.payload as { by: string[] }).by)].sort(), ['alice', 'bob']);
  });
});
