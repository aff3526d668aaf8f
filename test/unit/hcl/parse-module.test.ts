import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseModuleDir, parseModuleFiles } from '../../../activities/hcl/parse-module';
import { HclError } from '../../../activities/hcl/types';
import { FIXTURES } from './golden';

async function rejects(p: Promise<unknown>, check: (e: HclError) => void): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HclError, `expected an HclError, got ${String(e)}`);
    check(e);
    return;
  }
  assert.fail('expected an error');
}

describe('hcl/parse-module', () => {
  it('reads variables, outputs, locals, providers, terraform, modules, resources from .tf and .tf.json', async () => {
    const st = await parseModuleDir(join(FIXTURES, 'realistic'));
    assert.deepEqual(st.files, ['cycle.tf', 'main.tf', 'outputs.tf.json', 'variables.tf']);
    assert.deepEqual(st.variables.zone_id, { name: 'zone_id', file: 'variables.tf', type: 'string', hasDefault: false, sensitive: true });
    assert.deepEqual(st.variables.azs!.default, ['a', 'b']);
    assert.equal(st.outputs.key!.sensitive, true);
    assert.deepEqual(st.outputs.records!.dependsOn, ['module.eks']);
    assert.deepEqual(st.providers.map((p) => [p.name, p.alias ?? '']), [['aws', ''], ['aws', 'west']]);
    assert.deepEqual(st.terraform.requiredProviders, { aws: { source: 'hashicorp/aws', version: '~> 5.0' } });
    assert.equal(st.terraform.backend?.type, 's3');
    const app = st.modules.app!;
    assert.deepEqual(app.providers, { aws: 'aws.west' });
    assert.deepEqual(app.dependsOn, ['aws_iam_role.app']);
    assert.equal(app.forEach, '${toset(["a", "b"])}');
    assert.deepEqual(app.sourceOutputs, ['endpoint']);
    assert.equal(st.modules.net!.count, 1);
    assert.equal(st.modules.registry_vpc!.version, '5.8.1');
    assert.equal(st.modules.registry_vpc!.sourceOutputs, undefined);
    assert.deepEqual(st.modules.kms!.sourceSensitiveOutputs, ['key_arn']);
    assert.deepEqual(st.resources['aws_s3_bucket.logs']!.dependsOn, ['module.eks']);
    assert.equal(st.resources['data.aws_caller_identity.current']!.mode, 'data');
    // dynamic iterator and lifecycle.ignore_changes are not references
    assert.deepEqual(st.resources['aws_security_group.app']!.refs.map((r) => r.address), ['local.name', 'module.net', 'var.ports']);
    // for iterators (`s`) are not references
    assert.deepEqual(st.resources['aws_iam_role.app']!.refs.map((r) => r.address), ['local.name', 'var.principals']);
    // the whole structure is plain JSON
    assert.deepEqual(JSON.parse(JSON.stringify(st)), st);
  });

  it('reports malformed HCL with file and line', async () => {
    await rejects(parseModuleDir(join(FIXTURES, 'bad', 'malformed')), (e) => {
      assert.equal(e.file, 'main.tf');
      assert.equal(e.line, 4);
      assert.match(e.message, /^main\.tf:4: Invalid expression/);
    });
  });

  it('reports malformed .tf.json with file and line', async () => {
    await rejects(parseModuleDir(join(FIXTURES, 'bad', 'malformed-json')), (e) => {
      assert.equal(e.file, 'main.tf.json');
      assert.equal(e.line, 3);
    });
  });

  it('refuses a declaration made twice', async () => {
    await rejects(parseModuleFiles({ 'a.tf': 'variable "x" {}\n', 'b.tf': '\n\nvariable "x" {}\n' }), (e) => {
      assert.equal(e.kind, 'duplicate');
      assert.equal(e.file, 'b.tf');
      assert.equal(e.line, 3);
      assert.match(e.message, /var\.x is already declared in a\.tf/);
    });
  });

  it('reads .tf.json blocks given as objects or arrays', async () => {
    const st = await parseModuleFiles({
      'main.tf.json': JSON.stringify({
        variable: { a: { type: 'string', sensitive: true } },
        module: { m: [{ source: './m', x: '${var.a}', depends_on: ['terraform_data.t'], providers: { aws: 'aws.west' } }] },
        resource: { terraform_data: { t: { input: '${var.a}' } } },
      }),
    });
    assert.equal(st.variables.a!.type, 'string');
    assert.deepEqual(st.modules.m!.providers, { aws: 'aws.west' });
    assert.deepEqual(st.modules.m!.refs.map((r) => r.address), ['terraform_data.t', 'var.a']);
  });
});

describe('hcl/parse-module: more bad input', () => {
  it('merges override files as Terraform does, and refuses an override of something undeclared', async () => {
    const st = await parseModuleFiles({
      'main.tf': `
terraform {
  required_version = ">= 1.2"
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "< 4.0" }
    random  = { source = "hashicorp/random" }
  }
}
provider "azurerm" {
  features {}
}
provider "azurerm" {
  alias = "hub"
  features {}
}
locals { size = 1 }
module "net" {
  source = "./net"
  cidr   = "10.0.0.0/16"
}
resource "null_resource" "a" {
  triggers = { v = 1 }
  lifecycle {
    create_before_destroy = true
    ignore_changes        = [triggers]
  }
}
`,
      'providers_override.tf': `
terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }
  }
}
provider "azurerm" {
  alias           = "hub"
  subscription_id = var.hub
}
`,
      'override.tf': `
variable "hub" {}
locals { size = module.net.size }
module "net" { cidr = "10.1.0.0/16" }
resource "null_resource" "a" {
  lifecycle { ignore_changes = all }
}
`,
      'variables.tf': 'variable "hub" { type = string }\n',
    });
    assert.deepEqual(st.terraform.requiredProviders, {
      azurerm: { source: 'hashicorp/azurerm', version: '~> 4.0' }, random: { source: 'hashicorp/random' },
    });
    assert.equal(st.terraform.requiredVersion, '>= 1.2');
    const hub = st.providers.find((p) => p.alias === 'hub')!;
    assert.equal(hub.body.subscription_id, '${var.hub}');
    assert.deepEqual(hub.refs, [{ address: 'var.hub', kind: 'var' }]);
    assert.equal(st.providers.find((p) => p.alias === undefined)!.body.subscription_id, undefined);
    assert.equal(st.modules.net!.args.cidr, '10.1.0.0/16');
    assert.equal(st.modules.net!.source, './net');
    assert.deepEqual(st.locals.size!.refs, [{ address: 'module.net', kind: 'module', attr: 'size' }]);
    assert.deepEqual(st.resources['null_resource.a']!.body.lifecycle, [{ create_before_destroy: true, ignore_changes: '${all}' }]);
    assert.equal(st.variables.hub!.type, 'string', 'an override variable block without arguments keeps the base ones');

    await rejects(parseModuleFiles({ 'main.tf': 'variable "x" {}\n', 'backend_override.tf': 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n' }), (e) => {
      assert.equal(e.file, 'backend_override.tf');
      assert.equal(e.line, 1);
      assert.match(e.message, /aws_s3_bucket\.b overrides nothing/);
    });
  });
});
