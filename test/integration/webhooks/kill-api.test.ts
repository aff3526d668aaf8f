/**
 * Killing the api right after its 202 loses nothing: the api runs as its own process (api/main.ts),
 * is SIGKILLed as soon as it answered, and only then is a worker started. The push workflow, not the
 * api, does the work, so the stack is registered and its runs are started anyway.
 * The api process is the real one: it needs Vault (VAULT_ADDR/VAULT_TOKEN) for its Temporal payload
 * codec and for repository secrets, so the repository here is registered with a webhook secret that
 * the process stores through Vault Transit and reads back to verify the delivery.
 * Also: without GITHUB_WEBHOOK_SECRET (or without VAULT_TOKEN) the api refuses to start.
 */
import assert from 'node:assert/strict';
import { apiProcessEnv, startApiProcess } from '../../harness/api-process';
import { waitForRunStarted } from '../../../activities/run-requests';
import { CONTROL_TASK_QUEUE, pushWorkflowId, stackRunWorkflowId, type PushWorkflowResult, type StackRunInput } from '../../../workflows/definitions';
import {
  AUTH, GLOBAL_SECRET, GitRepo, MAIN_TF, STACK_HCL, deliver, pushPayload, setupEnv, startWorker, type Env,
} from './helpers';

const REPO_SECRET = 'kill-api-repo-secret-0123456789';

function apiEnv(env: Env): NodeJS.ProcessEnv {
  return apiProcessEnv({
    db: env.tdb, temporal: { address: env.address, namespace: env.namespace }, vault: env.vault, webhookSecret: GLOBAL_SECRET,
  });
}

describe('webhooks: the api killed right after its 202', function () {
  this.timeout(120_000);
  let env: Env;
  let repo: GitRepo;

  before(async () => {
    env = await setupEnv('webhooks_kill');
    repo = new GitRepo('kill');
  });

  after(async () => {
    await env?.stop();
    repo?.cleanup();
  });

  it('refuses to start without GITHUB_WEBHOOK_SECRET', async () => {
    const e = apiEnv(env);
    delete e.GITHUB_WEBHOOK_SECRET;
    await assert.rejects(startApiProcess(e), /exited with 2[\s\S]*GITHUB_WEBHOOK_SECRET is required/);
  });

  it('refuses to start without VAULT_TOKEN', async () => {
    const e = apiEnv(env);
    delete e.VAULT_TOKEN;
    await assert.rejects(startApiProcess(e), /exited with 2[\s\S]*VAULT_TOKEN is required/);
  });

  it('loses nothing: the push workflow runs after the api is gone, and the runs are started', async () => {
    const { child, url } = await startApiProcess(apiEnv(env));
    let exited = false;
    child.on('exit', () => { exited = true; });
    const reg = await fetch(`${url}/api/repositories`, {
      method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ url: repo.url, tracked_branch: 'main', webhook_secret: REPO_SECRET }),
    });
    assert.equal(reg.status, 201, await reg.clone().text());
    const stored = await env.tdb.db.selectFrom('repositories').select('webhook_secret_enc').executeTakeFirstOrThrow();
    assert.match(stored.webhook_secret_enc!, /^vault:v\d+:/, 'stored as Vault Transit ciphertext');
    repo.write({ 'stacks/k/stack.hcl': STACK_HCL('k'), 'stacks/k/main.tf': MAIN_TF('k') }).commit('k');
    const { before, after } = repo.push();
    const d = await deliver(url, pushPayload(repo, { before, after }), { secret: REPO_SECRET });
    child.kill('SIGKILL');
    assert.equal(d.status, 202, JSON.stringify(d.body));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(exited || child.signalCode === 'SIGKILL', 'the api is gone');

    // api/main.ts starts push workflows on the control queue.
    const worker = await startWorker(env, { taskQueue: CONTROL_TASK_QUEUE });
    try {
      const result = await env.client.workflow.getHandle(pushWorkflowId(d.deliveryId)).result() as PushWorkflowResult;
      assert.deepEqual(result.registered, ['stacks/k']);
      const code = await env.tdb.db.selectFrom('stack_codes').selectAll().where('repo_path', '=', 'stacks/k').executeTakeFirstOrThrow();
      const states = await env.tdb.db.selectFrom('stack_states').selectAll().where('stack_code_id', '=', code.id).execute();
      assert.equal(states.length, 2);
      assert.equal(result.runsStarted.length, 2);
      for (const s of states) {
        const runId = result.runsStarted.find((id) => id.startsWith(`${stackRunWorkflowId(s.id, after)}-`));
        assert.ok(runId, `a run of ${s.name} at the pushed commit was asked for`);
        assert.ok(await waitForRunStarted(env.client, runId, 30_000), 'its state queue started it');
        const input = await env.client.workflow.getHandle(runId).result() as StackRunInput;
        assert.equal(input.trigger.deliveryId, d.deliveryId);
      }
    } finally {
      await worker.stop();
    }
  });
});
