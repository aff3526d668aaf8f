/**
 * Records runs that take the OLD branch of a `patched()` change of stackRunWorkflow, by running one
 * scenario on the code from before that change. Not a test of this checkout (not `*.test.ts`, not
 * in scripts/test): copy it into a worktree of the old commit and run it there against services you
 * started yourself (test/replay/services.ts), then fetch the decoded histories with
 * test/replay/fetch.ts (test/README.md, "Replay tests"). It uses only harness functions that exist,
 * with these signatures, since 9b69add:
 * startStackly, makeRepo, registerStack, startRun, waitForPhase.
 *
 *   STACKLY_OLD_BRANCH=destroy-review-plan    (at 96be5ba^ = 9b69add) a two-unit stack deployed, then
 *     destroyed with approval: the destroy run has no review plan (no `destroy-review-plan` marker).
 *   STACKLY_OLD_BRANCH=post-apply-on-failure  (at 00d1896^ = 05feb18) a two-unit stack with a
 *     post_apply hook whose root output cannot be evaluated once the units applied (`tonumber` of a
 *     resource id known only after apply): the run fails in its catch block after the apply began,
 *     where the code before 00d1896 ran no post_apply hook (no `post-apply-on-failure` marker).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { approveSignal } from '../../workflows/definitions';
import { makeRepo, startStackly, type Stackly } from '../harness/stackly';
import * as h from '../harness/services';
import { registerStack, startRun, waitForPhase } from '../workflows/helpers';

const scenario = process.env.STACKLY_OLD_BRANCH ?? '';

/** The run's end: its result, or the failure's message. */
async function ended(handle: WorkflowHandle): Promise<{ phase?: string; failure?: string }> {
  try {
    return (await handle.result()) as { phase: string };
  } catch (e) {
    return { failure: String(e instanceof Error && e.cause ? e.cause : e) };
  }
}

describe(`a run on the code before a patched() change: ${scenario || '(set STACKLY_OLD_BRANCH)'}`, function () {
  this.timeout(600_000);
  let s: Stackly;

  before(async function () {
    if (!['destroy-review-plan', 'post-apply-on-failure'].includes(scenario)) this.skip();
    s = await startStackly(`old_${scenario.replace(/-/g, '_')}`);
  });
  after(async () => { await s?.stop(); });

  /** A root resource and a module reading it (two units); `extraRoot` more root HCL; `hooks` a stack.hcl hooks block. */
  async function pairStack(extraRoot: string, hooks: string, autoDeploy: boolean) {
    const labels = { suite: s.t.schema };
    await s.startExecWorker('exec-old', labels);
    const repo = makeRepo(h.testStateDir());
    const dir = join(repo.work, 'stacks', 'pair');
    mkdirSync(join(dir, 'm'), { recursive: true });
    writeFileSync(join(dir, 'stack.hcl'), `stack "pair" {
  environment = "test"
  auto_deploy = ${autoDeploy}
  parallelism = 4
${hooks}
  requires {
    features = ["terraform"]
    labels   = { suite = "${labels.suite}" }
  }
  state "test" {
    variables { prefix = "q" }
  }
}
`);
    writeFileSync(join(dir, 'main.tf'), [
      'variable "prefix" { type = string }',
      'resource "terraform_data" "a" { input = "${var.prefix}-a" }',
      'module "m" {\n  source = "./m"\n  value  = terraform_data.a.output\n}',
      'output "b" { value = module.m.out }',
      extraRoot, '',
    ].join('\n'));
    writeFileSync(join(dir, 'm', 'main.tf'), [
      'variable "value" { type = string }',
      'resource "terraform_data" "b" { input = "${var.value}-b" }',
      'output "out" { value = terraform_data.b.output }', '',
    ].join('\n'));
    const commit = repo.commit('pair stack');
    return registerStack(s, {
      account: 'acme', repoUrl: repo.url, repoPath: 'stacks/pair', commit, name: 'pair', autoDeploy, parallelism: 4,
      requires: { features: ['terraform'], labels }, variables: { prefix: 'q' },
    });
  }

  it('destroy-review-plan: a destroy run with approval, before destroy runs had a review plan', async function () {
    if (scenario !== 'destroy-review-plan') this.skip();
    const ids = await pairStack('', '', false);
    const deploy = await startRun(s, ids);
    await waitForPhase(deploy, ['awaiting_approval']);
    await deploy.signal(approveSignal, { by: 'alice' });
    assert.equal((await ended(deploy)).phase, 'succeeded');
    const destroy = await startRun(s, ids, 'destroy');
    const waiting = await waitForPhase(destroy, ['awaiting_approval']);
    assert.equal(waiting.review, undefined, 'the code before 96be5ba has no destroy review plan');
    await destroy.signal(approveSignal, { by: 'alice' });
    assert.equal((await ended(destroy)).phase, 'succeeded');
    process.stdout.write(`      destroy run: ${destroy.workflowId}\n`);
  });

  it('post-apply-on-failure: the root outputs fail after the units applied, with a post_apply hook', async function () {
    if (scenario !== 'post-apply-on-failure') this.skip();
    const ids = await pairStack(
      'output "broken" { value = tonumber(terraform_data.a.id) }',
      '  hooks {\n    post_apply = ["builtin.record"]\n  }',
      true,
    );
    const run = await startRun(s, ids);
    const end = await ended(run);
    assert.ok(end.failure, `the run failed (${JSON.stringify(end)})`);
    const applied = await s.t.db.selectFrom('events').select('type').where('type', '=', 'deploy_initiated').execute();
    assert.equal(applied.length, 1, 'the apply had begun');
    process.stdout.write(`      failed run: ${run.workflowId}: ${end.failure}\n`);
  });
});
