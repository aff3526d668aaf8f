/**
 * policies/locate.ts, the one HCL position locator (policy files, stack.hcl, module declarations):
 * keys of blocks, attributes and object keys in HCL and Terraform JSON, a field found by its
 * validator path, declarations by address.
 */
import assert from 'node:assert/strict';
import { declarationLines, indexLines, lineAtPath, lineOf } from '../../../policies/locate';

const POLICY = `# a comment { not a block
policy "prod_approval" {
  description = <<-EOT
    text with { braces } and "quotes"
  EOT
  approval {
    min_approvers = 2 /* inline
    comment */
    allowed_groups = ["a", "\${x}"]
  }
}
policy "prod_approval" {
  environment = "prod"
}
`;

describe('policies/locate: the HCL position locator', () => {
  it('indexes blocks (type, labels, index among siblings) and attributes past comments and heredocs', () => {
    const index = indexLines(POLICY);
    assert.equal(index.get('policy.prod_approval[0]'), 2);
    assert.equal(index.get('policy.prod_approval[0].description'), 3);
    assert.equal(index.get('policy.prod_approval[0].approval[0]'), 6);
    assert.equal(index.get('policy.prod_approval[0].approval[0].min_approvers'), 7);
    assert.equal(index.get('policy.prod_approval[0].approval[0].allowed_groups'), 9);
    assert.equal(index.get('policy.prod_approval[1].environment'), 13);
  });

  it('lineOf falls back to the most specific ancestor, and finds a labelled block without its labels', () => {
    const index = indexLines(POLICY);
    assert.equal(lineOf(index, 'policy.prod_approval[0].approval[0].max_age'), 6);
    assert.equal(lineOf(index, 'policy.prod_approval[0].approval[0].allowed_groups[1]'), 9);
    assert.equal(lineOf(index, 'policy'), 2);
    assert.equal(lineOf(index, 'hook.x[0]'), undefined);
  });

  it('indexes the keys of object values, quoted or not, on one line or several', () => {
    const index = indexLines('stack "net" {\n  requires {\n    labels = { region = "eu", "k-8" = 1 }\n  }\n  variables = {\n    size = {\n      max = 3\n    }\n  }\n  after = 1\n}\n');
    assert.equal(index.get('stack.net[0].requires[0].labels.region'), 3);
    assert.equal(index.get('stack.net[0].requires[0].labels.k-8'), 3);
    assert.equal(index.get('stack.net[0].variables.size.max'), 7);
    assert.equal(index.get('stack.net[0].after'), 10);
  });

  it('reads Terraform JSON by its keys', () => {
    const index = indexLines('{\n  "resource": {\n    "aws_s3_bucket": {\n      "b": {\n        "bucket": "x"\n      }\n    }\n  },\n  "variable": {\n    "v": {}\n  }\n}\n');
    assert.equal(index.get('resource.aws_s3_bucket.b'), 4);
    assert.equal(index.get('resource.aws_s3_bucket.b.bucket'), 5);
    assert.equal(index.get('variable.v'), 10);
  });

  it('lineAtPath follows a validator path: block types, labels, keys, list indexes; a missing field gives its block', () => {
    const text = 'stack "net" {\n  state "prod" {\n    variables = { size = "l" }\n  }\n  hooks {\n    pre_plan = ["a"]\n  }\n  policies = ["x", "y"]\n}\nbackend {}\n';
    const index = indexLines(text);
    assert.equal(lineAtPath(index, ['stack', 'net', 'state', 'prod', 'variables', 'size']), 3);
    assert.equal(lineAtPath(index, ['stack', 'net', 'hooks', 'pre_plan']), 6);
    assert.equal(lineAtPath(index, ['stack', 'net', 'hooks', 'post_apply']), 5);
    assert.equal(lineAtPath(index, ['stack', 'net', 'policies', '1']), 8);
    assert.equal(lineAtPath(index, ['stack', 'net', 'drift', 'schedule']), 1);
    assert.equal(lineAtPath(index, ['backend']), 10);
    assert.equal(lineAtPath(index, []), undefined);
  });

  it('declarationLines: every declaration of a .tf or .tf.json file by address, the first of two', () => {
    const tf = [
      'variable "v" {}', 'locals {', '  a = 1', '}', 'locals { b = 2 }', 'resource "aws_x" "y" {', '  tags = { k = "v" }', '}',
      'data "aws_d" "e" {}', 'ephemeral "random_password" "p" {}', 'module "net" {', '  source = "./net"', '}',
      'output "o" { value = 1 }', 'provider "aws" {}', 'provider "aws" {', '  alias = "eu"', '}', 'variable "v" {}',
    ].join('\n');
    assert.deepEqual(Object.fromEntries(declarationLines(tf)), {
      'var.v': 1, 'local.a': 3, 'local.b': 5, 'aws_x.y': 6, 'data.aws_d.e': 9, 'ephemeral.random_password.p': 10,
      'module.net': 11, 'output.o': 14, 'provider.aws': 15,
    });
    const json = '{\n  "module": {\n    "net": { "source": "./net" }\n  },\n  "locals": {\n    "a": 1\n  }\n}\n';
    assert.deepEqual(Object.fromEntries(declarationLines(json)), { 'module.net': 3, 'local.a': 6 });
  });
});
