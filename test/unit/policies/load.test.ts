import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadPolicies, resolveStackPolicies } from '../../../policies/load';
import { parsePolicyFiles } from '../../../policies/parse';
import { formatPolicyError } from '../../../policies/render';
import type { PolicyError } from '../../../policies/types';
import { FIXTURES } from './helpers';

const repo = (name: string) => path.join(FIXTURES, name);
const find = (errors: PolicyError[], field: string) => errors.find((e) => e.field === field);

describe('policies/load: parsing and validation', () => {
  it('loads the valid fixture repository into normalised policies', async () => {
    const loaded = await loadPolicies(repo('repo-valid'));
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(Object.keys(loaded.policies).sort(), ['deployment_window', 'night_window', 'production_approval', 'protect_data']);
    assert.deepEqual(loaded.files, ['policies/approvals.hcl', 'policies/security.hcl', 'policies/windows.hcl']);
    const w = loaded.policies.deployment_window;
    assert.equal(w.file, 'policies/windows.hcl');
    assert.equal(w.line, 2);
    assert.equal(w.description, 'Office hours in Berlin');
    assert.deepEqual(w.window, { hours: [{ text: '9-17', start: 540, end: 1020 }], days: [1, 2, 3, 4, 5], timezone: 'Europe/Berlin', onViolation: 'queue' });
    assert.deepEqual(loaded.policies.night_window.window?.days, [1, 5, 6, 7]);
    assert.equal(loaded.policies.night_window.environment, 'prod');
    assert.deepEqual(loaded.policies.production_approval.approval, { required: true, minApprovers: 2, allowedGroups: ['platform-admins'], allowAuthor: false });
    assert.deepEqual(loaded.policies.protect_data.security, {
      denyActions: [{ resourceTypes: ['aws_db_instance', 'aws_s3_bucket'], actions: ['delete', 'replace'] }],
      maxChangedResources: 50,
      requiredTags: [{ resourceTypes: [], tags: ['owner', 'cost_center'] }],
      requiredAttributes: [{ resourceType: 'aws_s3_bucket_acl', attribute: 'acl', values: ['private'] }],
    });
    // Plain data: survives a JSON round trip (activity result → workflow).
    assert.deepEqual(JSON.parse(JSON.stringify(loaded)), loaded);
  });

  it('reports bad fields with file, line and field path', async () => {
    const { errors, policies } = await loadPolicies(repo('repo-invalid'));
    assert.deepEqual(policies, {});
    const bad = 'policies/bad.hcl';
    const expect = (field: string, line: number, message: RegExp) => {
      const e = find(errors, field);
      assert.ok(e, `no error for ${field}: ${errors.map(formatPolicyError).join('\n')}`);
      assert.equal(e.file, bad);
      assert.equal(e.line, line, `line of ${field}`);
      assert.match(e.message, message);
    };
    expect('schedule.allowed_hours[1]', 3, /"25-3"/);
    expect('schedule.allowed_days[0]', 4, /unknown day "FRY"/);
    expect('schedule.timezone', 5, /unknown time zone "Mars\/Olympus"/);
    expect('action.on_violation', 9, /must be "queue" or "reject", got "wait"/);
    expect('approval.min_approvers', 15, /at least 1/);
    expect('approval.allowed_group', 16, /unknown field "allowed_group" in approval; did you mean "allowed_groups"\?/);
    expect('security.deny_actions[0].actions[0]', 24, /unknown action "destroy"/);
    expect('colour', 27, /unknown field "colour" in policy "security"/);
    assert.equal(find(errors, 'colour')?.policy, 'security');
    assert.equal(
      formatPolicyError(find(errors, 'schedule.timezone')!),
      'policies/bad.hcl:5: policy "window", field schedule.timezone: unknown time zone "Mars/Olympus"; use an IANA name such as "Europe/Berlin" or "UTC"',
    );
  });

  it('reports HCL syntax errors with the line from hcl2json', async () => {
    const { errors } = await loadPolicies(repo('repo-invalid'));
    const e = errors.find((x) => x.file === 'policies/syntax.hcl');
    assert.ok(e);
    assert.equal(e.line, 2);
    assert.match(e.message, /^HCL syntax error: Invalid expression/);
  });

  it('a policy name in two files is an error naming both files', async () => {
    const { errors, policies } = await loadPolicies(repo('repo-dup'));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].file, 'policies/b.hcl');
    assert.equal(errors[0].line, 8);
    assert.match(errors[0].message, /policy "shared" is defined in both policies\/a\.hcl:1 and policies\/b\.hcl:8/);
    assert.equal(policies.shared.file, 'policies/a.hcl');
    assert.ok(policies.other);
  });

  it('the same name twice in one file, unknown top-level blocks, empty policies and attribute-instead-of-block', async () => {
    const text = [
      'policy "a" {',
      '  approval {',
      '    min_approvers = 1',
      '  }',
      '}',
      'policy "a" {',
      '  approval {',
      '    min_approvers = 1',
      '  }',
      '}',
      'rule "x" {',
      '}',
      'policy "empty" {',
      '  description = "nothing"',
      '}',
      'policy "attr" {',
      '  approval = { min_approvers = 1 }',
      '}',
      'policy "expr" {',
      '  environment = var.env',
      '}',
    ].join('\n');
    const { errors } = await parsePolicyFiles([{ path: 'policies/x.hcl', text }]);
    const msgs = errors.map(formatPolicyError);
    assert.ok(msgs.includes('policies/x.hcl:6: policy "a": policy "a" is defined twice in policies/x.hcl (first at line 1)'), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('policies/x.hcl:11: field rule: unknown top-level block "rule"')), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('policies/x.hcl:13: policy "empty": policy "empty" has no rules')), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('policies/x.hcl:17: policy "attr", field approval: must be a block')), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('policies/x.hcl:20: policy "expr", field environment: must be a literal string, not the expression ${var.env}')), msgs.join('\n'));
  });

  it('a repository without a policies directory has no policies and no errors', async () => {
    const loaded = await loadPolicies(path.join(FIXTURES, 'plans'));
    assert.deepEqual(loaded, { policies: {}, hooks: {}, errors: [], files: [] });
  });

  describe('resolveStackPolicies', () => {
    it('returns the named policies in order', async () => {
      const loaded = await loadPolicies(repo('repo-valid'));
      const r = resolveStackPolicies(loaded, ['protect_data', 'deployment_window'], 'stacks/network/stack.hcl');
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.policies.map((p) => p.name), ['protect_data', 'deployment_window']);
    });
    it('names the stack.hcl file and the missing policy', async () => {
      const loaded = await loadPolicies(repo('repo-missing'));
      const r = resolveStackPolicies(loaded, ['exists', 'does_not_exist'], 'stacks/api/stack.hcl', 3);
      assert.deepEqual(r.policies.map((p) => p.name), ['exists']);
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].file, 'stacks/api/stack.hcl');
      assert.equal(r.errors[0].line, 3);
      assert.match(r.errors[0].message, /stacks\/api\/stack\.hcl names policy "does_not_exist", which does not exist in policies\/\*\.hcl \(known: exists\)/);
    });
  });
});
