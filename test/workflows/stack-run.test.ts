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
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Client } from '../../scripts/services';
import { type RunProgress, type StackRunInput } from '../../workflows/definitions';
import { copyFixture, makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';
import { decide, registerStack, startRun, waitForPhase, type StackIds } from './helpers';

const FIXTURE = resolve(__dirname, '../fixtures/graph/tofu-chain');

describe('StackRunWorkflow on real components', function () {
  this.timeout(600_000);
  let s: Stackly;
  let suiteLabel: string;
  let repo: ReturnType<typeof makeRepo>;
  let ids: StackIds;

  before(async () => {
    s = await startStackly('stackrun');
    suiteLabel = s.t.schema;
    repo = makeRepo(h.testStateDir());
    const stackDir = join(repo.work, 'stacks', 'chain');
    mkdirSync(join(repo.work, 'stacks'), { recursive: true });
    copyFixture(FIXTURE, stackDir, {
      'stack.hcl': `stack "chain" {\n  environment = "test"\n  parallelism = 4\n  requires {\n    features = ["terraform"]\n    labels = { suite = "${suiteLabel}", region = "eu" }\n  }\n  state "test" {\n    variables { prefix = "q" }\n  }\n}\n`,
    });
    const commit = repo.commit('chain stack');
    ids = await registerStack(s, {
      account: 'acme', repoUrl: repo.url, repoPath: 'stacks/chain', commit, name: 'chain', autoDeploy: false, parallelism: 4,
      requires: { features: ['terraform'], labels: { suite: suiteLabel, region: 'eu' } }, variables: { prefix: 'q' },
    });
  });
  after(async () => { await s?.stop(); });

  const start = (kind: StackRunInput['kind'] = 'deploy') => startRun(s, ids, kind);

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

    await decide(s, handle, { by: 'alice' });
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
    const listed = await s3Client(s3).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: ids.statePrefix }));
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

  it('destroys: shows what it removes, waits for approval, then destroys every unit in reverse order', async () => {
    const handle = await start('destroy');
    const review = await waitForPhase(handle, ['awaiting_approval']);
    const deletes = review.review!.changes.filter((c) => c.actions.includes('delete')).map((c) => c.address);
    assert.ok(deletes.includes('module.a.terraform_data.t') && deletes.includes('terraform_data.after'), deletes.join(', '));
    assert.equal(review.review!.counts.destroy, review.review!.changes.length, 'a destroy plan removes, nothing else');
    assert.ok(Object.values(review.units).every((u) => u.status === 'pending'), 'nothing destroyed before approval');

    await decide(s, handle, { by: 'alice' });
    const result = (await handle.result()) as RunProgress;
    assert.equal(result.phase, 'succeeded', result.error);
    // Every unit's state is empty afterwards.
    const s3 = await h.s3();
    const client = s3Client(s3);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: ids.statePrefix }));
    for (const key of (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.tfstate'))) {
      const body = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString();
      assert.deepEqual((JSON.parse(body) as { resources: unknown[] }).resources, [], `${key} is empty`);
    }
  });
});
