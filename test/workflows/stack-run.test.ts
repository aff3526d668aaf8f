/**
 * StackRunWorkflow end to end on real Temporal, Postgres, MinIO, Vault and tofu: the tofu-chain
 * fixture (units in a chain and a diamond, a merged two-module unit, root resources between
 * modules) is reviewed in one plan, approved once and applied unit by unit on a labelled worker;
 * values flow between units; a second run plans no changes; a run whose labels no worker carries
 * waits visibly and goes on when a matching worker starts.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { s3Client } from '../../scripts/services';
import { stackRunWorkflowId, type StackRunInput } from '../../workflows/definitions';
import { approveSignal, progressQuery, type RunProgress } from '../../workflows/definitions';
import { copyFixture, makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';

const FIXTURE = resolve(__dirname, '../fixtures/graph/tofu-chain');

async function waitForPhase(handle: WorkflowHandle, phases: string[], timeoutMs = 120_000): Promise<RunProgress> {
  const deadline = Date.now() + timeoutMs;
  let last: RunProgress | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(progressQuery);
    if (phases.includes(last.phase)) return last;
    if (['failed', 'rejected', 'cancelled'].includes(last.phase)) throw new Error(`run ended ${last.phase}: ${last.error}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`run did not reach ${phases.join('/')} in time; last progress: ${JSON.stringify(last)}`);
}

describe('StackRunWorkflow on real components', function () {
  this.timeout(600_000);
  let s: Stackly;
  let suiteLabel: string;
  let repo: ReturnType<typeof makeRepo>;
  let commit: string;
  let ids: { accountId: string; codeId: string; stateId: string };

  before(async () => {
    s = await startStackly('stackrun');
    suiteLabel = s.t.schema;
    repo = makeRepo(h.testStateDir());
    const stackDir = join(repo.work, 'stacks', 'chain');
    mkdirSync(join(repo.work, 'stacks'), { recursive: true });
    copyFixture(FIXTURE, stackDir, {
      'stack.hcl': `stack "chain" {\n  environment = "test"\n  parallelism = 4\n  requires {\n    features = ["terraform"]\n    labels = { suite = "${suiteLabel}", region = "eu" }\n  }\n  state "test" {\n    variables { prefix = "q" }\n  }\n}\n`,
    });
    commit = repo.commit('chain stack');
    const acct = await s.t.db.insertInto('accounts').values({ name: 'acme', temporal_namespace: s.namespace }).returning('id').executeTakeFirstOrThrow();
    const config = {
      name: 'chain', environment: 'test', execution: 'modules', autoDeploy: false, onDelete: 'loose', parallelism: 4,
      requires: { features: ['terraform'], labels: { suite: suiteLabel, region: 'eu' } }, variables: {},
      states: [{ name: 'test', variables: { prefix: 'q' } }], policies: [], hooks: { prePlan: [], postPlan: [], preApply: [], postApply: [] },
    };
    const code = await s.t.db.insertInto('stack_codes').values({
      account_id: acct.id, repo_url: repo.url, repo_path: 'stacks/chain', name: 'chain', current_commit: commit,
      config: JSON.stringify(config), status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    const state = await s.t.db.insertInto('stack_states').values({
      account_id: acct.id, stack_code_id: code.id, name: 'test', commit_hash: '0'.repeat(40), tf_state_key: 'acme/chain/test/',
      variables: JSON.stringify({ prefix: 'q' }), metadata: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    ids = { accountId: acct.id, codeId: code.id, stateId: state.id };
  });
  after(async () => { await s?.stop(); });

  const start = (kind: StackRunInput['kind'] = 'deploy') => s.client.workflow.start('stackRunWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${stackRunWorkflowId(ids.stateId, commit, kind)}-${Date.now()}`,
    args: [{ stateId: ids.stateId, stackCodeId: ids.codeId, commit, kind, trigger: { type: 'manual', by: 'tester' } } satisfies StackRunInput],
  });

  it('waits visibly while no worker carries the labels, and goes on when one starts', async () => {
    await s.startExecWorker('exec-other', { suite: suiteLabel, region: 'us' });
    const handle = await start();
    const waiting = await waitForPhase(handle, ['waiting_for_worker']);
    assert.equal(waiting.waitingReason, `no live worker with features=[terraform], labels={region=eu,suite=${suiteLabel}}`);
    await s.startExecWorker('exec-eu', { suite: suiteLabel, region: 'eu' });
    const review = await waitForPhase(handle, ['awaiting_approval']);
    assert.ok(review.review, 'the review plan is summarised');
    await handle.terminate('the next test runs its own');
  });

  it('reviews one plan, is approved once, applies every unit in graph order with values flowing', async () => {
    const handle = await start();
    const review = await waitForPhase(handle, ['awaiting_approval']);
    const managed = review.review!.changes.map((c) => c.address);
    assert.ok(managed.includes('module.a.terraform_data.t'));
    assert.ok(managed.includes('terraform_data.after'));
    assert.equal(review.review!.counts.add, managed.length, 'a fresh state: every change is a create');
    assert.ok(Object.values(review.units).every((u) => u.status === 'pending'), 'nothing applied before approval');

    await handle.signal(approveSignal, { by: 'alice' });
    const result = (await handle.result()) as RunProgress;
    assert.equal(result.phase, 'succeeded', result.error);
    const statuses = Object.entries(result.units).map(([n, u]) => `${n}:${u.status}`);
    assert.ok(Object.values(result.units).every((u) => u.status === 'succeeded'), statuses.join(' '));
    assert.ok(Object.values(result.units).every((u) => !u.differences), 'no unit asked again');
    assert.deepEqual(result.approvals.map((a) => a.by), ['alice']);
    // Values flowed between units exactly as `tofu apply` of the original root gives them.
    // seed "q-seed" → module.c.first "q-seed-first" → module.b.second "q-seed-first-second" → module.d[i] → module.e["x"].
    assert.equal(result.outputs!.first_e.value, 'x:q-seed-first-second-0,q-seed-first-second-1');
    assert.deepEqual(result.outputs!.secret, { value: '(sensitive)', sensitive: true });

    const s3 = await h.s3();
    const listed = await s3Client(s3).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'acme/chain/test/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.tfstate'));
    assert.equal(keys.length, Object.keys(result.units).length, `one state object per unit: ${keys.join(', ')}`);

    const ops = await s.t.db.selectFrom('operations').selectAll().where('workflow_id', '=', handle.workflowId).execute();
    assert.equal(ops[0]?.status, 'succeeded');
    const events = await s.t.db.selectFrom('events').select('type').where('operation_id', '=', ops[0].id).orderBy('id').execute();
    const types = events.map((e) => e.type);
    for (const t of ['plan_initiated', 'plan_completed', 'approval_required', 'approval_received', 'deploy_initiated', 'activity_started', 'activity_completed', 'deploy_completed']) {
      assert.ok(types.includes(t as never), `event ${t} recorded (have ${types.join(', ')})`);
    }
  });

  it('plans no changes, asks nobody and applies nothing on a second run of the same commit', async () => {
    const handle = await start();
    const result = (await handle.result()) as RunProgress;
    assert.deepEqual(result.review!.counts, { add: 0, change: 0, destroy: 0, replace: 0 });
    assert.deepEqual(result.approvals, []);
    assert.equal(result.phase, 'no_changes', result.error);
    assert.ok(Object.values(result.units).every((u) => u.status === 'no_changes'));
  });
});
