/**
 * loadRunPolicies (activities/policies.ts), where a run's policies and hooks are resolved at its
 * commit: a stack naming a policy or a hook that does not exist makes the run invalid with an error
 * naming the stack file, the line and the missing name. Uses a local git repository (no services).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createPolicyActivities } from '../../../activities/policies';

describe('activities/policies: loadRunPolicies resolves policies and hooks at the commit', function () {
  this.timeout(30_000);
  let root: string;
  let work: string;
  let url: string;
  let acts: ReturnType<typeof createPolicyActivities>;

  const git = (...args: string[]) => execFileSync('git', args, {
    cwd: work, encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  }).trim();

  /** Writes the files, commits, returns the commit. */
  const commit = (files: Record<string, string>): string => {
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(work, f, '..'), { recursive: true });
      writeFileSync(join(work, f), text);
    }
    git('add', '-A');
    git('commit', '--quiet', '-m', 'x');
    return git('rev-parse', 'HEAD');
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'stackly-run-policies-'));
    work = join(root, 'work');
    mkdirSync(work);
    git('init', '--quiet', '-b', 'main');
    url = `file://${work}`;
    acts = createPolicyActivities({
      workDir: join(root, 'wd'), gitDir: join(root, 'git'), logger: pino({ level: 'silent' }),
      s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'none', accessKeyId: 'x', secretAccessKey: 'y' },
      cipher: { encrypt: async (b) => b, decrypt: async (b) => b },
    });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const POLICIES = 'policy "exists" {\n  approval {}\n}\n\nhook "notify" {\n  type       = "webhook"\n  url        = "https://hooks.example.com/x"\n  secret_env = "STACKLY_HOOK_SECRET"\n  priority   = 5\n}\n';

  async function failure(commitId: string): Promise<ApplicationFailure> {
    const err = await acts.loadRunPolicies({ source: { repoUrl: url, commit: commitId, stackPath: 'stacks/api' } }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }

  it('a stack naming a policy that does not exist is invalid: non-retryable PolicyConfigError naming file, line and policy', async () => {
    const c = commit({
      'policies/main.hcl': POLICIES,
      'stacks/api/stack.hcl': 'stack "api" {\n  environment = "prod"\n  policies    = ["exists", "does_not_exist"]\n}\n',
    });
    const e = await failure(c);
    assert.equal(e.type, 'PolicyConfigError');
    assert.equal(e.nonRetryable, true);
    assert.match(e.message, /stacks\/api\/stack\.hcl:3: policy "does_not_exist", field policies: stacks\/api\/stack\.hcl names policy "does_not_exist", which does not exist in policies\/\*\.hcl \(known: exists\)/);
  });

  it('a stack naming a hook that does not exist is invalid, naming the event and the hook', async () => {
    const c = commit({
      'stacks/api/stack.hcl': 'stack "api" {\n  policies = ["exists"]\n  hooks {\n    pre_plan   = ["notify"]\n    post_apply = ["notify_slack"]\n  }\n}\n',
    });
    const e = await failure(c);
    assert.equal(e.type, 'PolicyConfigError');
    assert.match(e.message, /stacks\/api\/stack\.hcl:5: hook "notify_slack", field hooks\.post_apply: .*names hook "notify_slack", which does not exist/);
  });

  it('valid: returns the policies and the hook definitions per event, secrets only by name', async () => {
    const c = commit({
      'stacks/api/stack.hcl': 'stack "api" {\n  policies = ["exists"]\n  hooks {\n    pre_apply = ["builtin.no_destroy", "notify"]\n  }\n}\n',
    });
    const r = await acts.loadRunPolicies({ source: { repoUrl: url, commit: c, stackPath: 'stacks/api' } });
    assert.deepEqual(r.policies.map((p) => p.name), ['exists']);
    assert.deepEqual(r.hooks.pre_apply.map((h) => h.name), ['notify', 'builtin.no_destroy']);
    assert.deepEqual(r.hooks.pre_plan, []);
    assert.equal(r.hooks.pre_apply[0]!.type === 'webhook' && r.hooks.pre_apply[0]!.secretEnv, 'STACKLY_HOOK_SECRET');
  });
});
