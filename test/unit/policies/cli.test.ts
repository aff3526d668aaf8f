import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Command } from 'commander';
import { registerPolicyCommand, runPolicyCheck, type PolicyCheckOptions, type PolicyCheckReport } from '../../../cli/policy';
import { FIXTURES } from './helpers';

const ROOT = path.resolve(__dirname, '../../..');
const repo = (name: string) => path.join(FIXTURES, name);
const planFile = (name: string) => path.join(FIXTURES, 'plans', `${name}.json`);

async function run(dir: string, opts: PolicyCheckOptions) {
  let stdout = '';
  let stderr = '';
  const code = await runPolicyCheck(dir, opts, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), now: () => Date.parse('2026-03-27T12:00:00Z') });
  return { code, stdout, stderr };
}

describe('cli/policy: stackly policy check', () => {
  it('registers `policy check` on a commander program', () => {
    const program = new Command('stackly');
    registerPolicyCommand(program);
    const policy = program.commands.find((c) => c.name() === 'policy');
    assert.ok(policy?.commands.find((c) => c.name() === 'check'));
  });

  it('passes a valid repository (exit 0) and lists every stack', async () => {
    const r = await run(repo('repo-valid'), {});
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /stacks\/network\/stack\.hcl \(environment prod\)/);
    assert.match(r.stdout, /production_approval\/approval: apply will need 2 approvers from platform-admins/);
    assert.match(r.stdout, /policy check passed/);
  });

  it('refuses a plan destroying a protected type (exit 1), with the address', async () => {
    const r = await run(repo('repo-valid'), { plan: planFile('destroy-db'), stack: 'stacks/network', json: true });
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as PolicyCheckReport;
    assert.equal(report.ok, false);
    assert.equal(report.stacks.length, 1);
    assert.equal(report.stacks[0].summary?.verdict, 'deny');
    const deny = report.stacks[0].decisions.post_plan?.find((d) => d.outcome === 'deny');
    assert.equal(deny?.address, 'module.db.aws_db_instance.main');
  });

  it('passes a clean plan for a stack', async () => {
    const r = await run(repo('repo-valid'), { plan: planFile('clean'), stack: 'stacks/app' });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /post_plan:\n {4}ok {4}protect_data\/deny_actions/);
  });

  it('fails (exit 1) on invalid policy files and on a stack naming a missing policy', async () => {
    const bad = await run(repo('repo-invalid'), {});
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /error policies\/bad\.hcl:5: policy "window", field schedule\.timezone: unknown time zone/);
    const missing = await run(repo('repo-missing'), { json: true });
    assert.equal(missing.code, 1);
    const report = JSON.parse(missing.stdout) as PolicyCheckReport;
    assert.deepEqual(report.errors.map((e) => [e.file, e.line, e.policy]), [['stacks/api/stack.hcl', 3, 'does_not_exist']]);
  });

  it('validates hooks: lists each stack\'s hooks in run order; an unknown or invalid hook fails (exit 1) with file, line and hook', async () => {
    const ok = await run(repo('repo-hooks'), { json: true });
    assert.equal(ok.code, 0, ok.stdout);
    const report = JSON.parse(ok.stdout) as PolicyCheckReport;
    assert.deepEqual(report.hooks, ['notify_slack', 'small_changes', 'validate_quotas']);
    assert.deepEqual(report.stacks[0]!.hooks, {
      pre_plan: ['validate_quotas', 'builtin.record'], pre_apply: ['small_changes', 'builtin.no_destroy'], post_apply: ['notify_slack'],
    });
    const text = await run(repo('repo-hooks'), {});
    assert.match(text.stdout, /hooks: pre_plan validate_quotas → builtin\.record; pre_apply small_changes → builtin\.no_destroy; post_apply notify_slack/);

    const bad = await run(repo('repo-hooks-missing'), {});
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /error policies\/hooks\.hcl:4: hook "notify_slack", field secret_env: must name an environment variable of the control worker matching STACKLY_HOOK_/);
    assert.match(bad.stdout, /error stacks\/api\/stack\.hcl:4: hook "validate_quotas", field hooks\.pre_plan: stacks\/api\/stack\.hcl names hook "validate_quotas", which does not exist/);
    assert.match(bad.stdout, /error stacks\/api\/stack\.hcl:5: hook "notify_slack", field hooks\.post_apply: .*which is invalid/);
    assert.match(bad.stdout, /policy check failed: 3 errors/);
  });

  it('usage errors exit 2: several stacks without --stack, a missing directory, an unreadable plan', async () => {
    const several = await run(repo('repo-valid'), { plan: planFile('clean') });
    assert.equal(several.code, 2);
    assert.match(several.stderr, /has 2 stacks; choose .* --stack/);
    assert.equal((await run(repo('nope'), {})).code, 2);
    assert.equal((await run(repo('repo-valid'), { plan: planFile('nope'), stack: 'stacks/app' })).code, 2);
    assert.equal((await run(repo('repo-valid'), { now: 'soon' })).code, 2);
  });

  it('as a process: exit codes 0, 1 and 2', function () {
    this.timeout(60000);
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--require', 'tsx/cjs', 'cli/policy-main.ts', 'policy', 'check', ...args], { cwd: ROOT, encoding: 'utf8' });
    const ok = cli(repo('repo-valid'), '--stack', 'stacks/app', '--plan', planFile('clean'));
    assert.equal(ok.status, 0, ok.stderr);
    const denied = cli(repo('repo-valid'), '--stack', 'stacks/network', '--plan', planFile('replace'), '--now', '2026-03-27T12:00:00Z');
    assert.equal(denied.status, 1, denied.stderr);
    assert.match(denied.stdout, /DENY {2}protect_data\/deny_actions: plan would replace \(destroy and re-create\) aws_db_instance\.orders/);
    const usage = cli();
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /missing required argument 'repo-dir'/);
  });
});
