import assert from 'node:assert/strict';
import { parseStackConfig } from '../../../activities/hcl/stack-config';
import { HclError } from '../../../activities/hcl/types';

const FULL = `stack "network" {
  version     = "1.0.0"
  environment = "prod"
  execution   = "modules"
  auto_deploy = false
  on_delete   = "loose"
  parallelism = 4

  requires {
    features = ["terraform"]
    labels   = { environment = "prod", region = "us-west-2" }
  }

  variables { region = "us-west-2" }

  state "prod"    { variables = { size = "large" } }
  state "staging" {
    variables {
      size = "small"
    }
  }

  policies = ["deployment_window", "production_approval"]

  hooks {
    pre_plan   = ["validate_quotas"]
    post_apply = ["notify_slack"]
  }

  drift {
    schedule       = "0 */6 * * *"
    auto_remediate = false
  }
}
`;

async function configError(text: string): Promise<HclError> {
  try {
    await parseStackConfig(text);
  } catch (e) {
    assert.ok(e instanceof HclError, `expected an HclError, got ${String(e)}`);
    return e;
  }
  return assert.fail('expected an error');
}

describe('hcl/stack-config', () => {
  it('parses the full example', async () => {
    const c = await parseStackConfig(FULL);
    assert.deepEqual(c, {
      name: 'network', version: '1.0.0', environment: 'prod', execution: 'modules', autoDeploy: false, onDelete: 'loose', parallelism: 4,
      requires: { features: ['terraform'], labels: { environment: 'prod', region: 'us-west-2' } },
      variables: { region: 'us-west-2' },
      states: [{ name: 'prod', variables: { size: 'large' } }, { name: 'staging', variables: { size: 'small' } }],
      policies: ['deployment_window', 'production_approval'],
      hooks: { prePlan: ['validate_quotas'], postPlan: [], preApply: [], postApply: ['notify_slack'] },
      drift: { schedule: '0 */6 * * *', autoRemediate: false },
    });
  });

  it('applies defaults and an implicit "default" state', async () => {
    const c = await parseStackConfig('stack "x" {}\n');
    assert.equal(c.execution, 'modules');
    assert.equal(c.autoDeploy, false);
    assert.equal(c.onDelete, 'loose');
    assert.equal(c.parallelism, 4);
    assert.deepEqual(c.states, [{ name: 'default', variables: {} }]);
    assert.equal(c.drift, undefined);
  });

  const cases: Array<[string, string, RegExp, number | undefined, string]> = [
    ['unknown field', FULL.replace('auto_remediate = false', 'auto_remediate = false\n    colour = 1'), /unknown field "colour"/, 33, 'stack.network.drift.colour'],
    ['unknown block in stack', FULL.replace('  hooks {', '  hook {'), /unknown block "hook"/, 25, 'stack.network.hook'],
    ['unknown top-level block', `${FULL}\nbackend {}\n`, /unknown block "backend"/, 36, 'backend'],
    ['bad cron', FULL.replace('0 */6 * * *', 'every day'), /invalid cron expression "every day"/, 31, 'stack.network.drift.schedule'],
    ['cron with seconds', FULL.replace('0 */6 * * *', '0 0 */6 * * *'), /invalid cron expression "0 0 \*\/6 \* \* \*": five fields/, 31, 'stack.network.drift.schedule'],
    ['parallelism out of range', FULL.replace('parallelism = 4', 'parallelism = 65'), /<=64/, 7, 'stack.network.parallelism'],
    ['bad enum', FULL.replace('execution   = "modules"', 'execution   = "parallel"'), /"modules"\|"single"/, 4, 'stack.network.execution'],
    ['wrong type', FULL.replace('auto_deploy = false', 'auto_deploy = "yes"'), /boolean/, 5, 'stack.network.auto_deploy'],
    ['expression', FULL.replace('region = "us-west-2" }', 'region = var.r }'), /expressions are not allowed/, 11, 'stack.network.requires.labels.region'],
    ['unknown field in a state', FULL.replace('state "prod"    { variables = { size = "large" } }', 'state "prod" {\n    size = "large"\n  }'), /unknown field "size"/, 17, 'stack.network.state.prod.size'],
  ];
  for (const [name, text, re, line, field] of cases) {
    it(`reports ${name} with file, line and field`, async () => {
      const e = await configError(text);
      assert.match(e.message, re);
      assert.equal(e.file, 'stack.hcl');
      assert.equal(e.line, line, e.message);
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith(`stack.hcl:${line}: ${field}: `), e.message);
    });
  }

  it('reports two stack blocks and a missing one', async () => {
    assert.match((await configError('stack "a" {}\nstack "b" {}\n')).message, /only one stack block/);
    assert.match((await configError('')).message, /no stack/);
  });

  it('reports HCL syntax errors with the line', async () => {
    const e = await configError('stack "a" {\n  parallelism = \n}\n');
    assert.equal(e.kind, 'parse');
    assert.equal(e.line, 2);
  });
});
