import assert from 'node:assert/strict';
import { findReferences, rewriteReferences } from '../../../activities/hcl/expressions';

const refs = (t: string, ex: string[] = []): string[] => findReferences(t, ex).map((r) => (r.attr ? `${r.address}:${r.attr}` : r.address));

describe('hcl/expressions', () => {
  it('finds module, resource, data, var and local references', () => {
    assert.deepEqual(refs('${module.net.vpc_id}'), ['module.net:vpc_id']);
    assert.deepEqual(refs('${aws_vpc.main.id}-${data.aws_ami.u.id}'), ['aws_vpc.main:id', 'data.aws_ami.u:id']);
    assert.deepEqual(refs('${var.region}${local.name}'), ['var.region', 'local.name']);
  });

  it('handles splats and indexes', () => {
    assert.deepEqual(refs('${module.a[0].id}'), ['module.a:id']);
    assert.deepEqual(refs('${module.a["k"].id}'), ['module.a:id']);
    assert.deepEqual(refs('${module.a[*].id}'), ['module.a:id']);
    assert.deepEqual(refs('${module.a.*.id}'), ['module.a:id']);
    assert.deepEqual(refs('${aws_x.y[local.i].arn}'), ['aws_x.y', 'local.i']);
  });

  it('does not take for-expression iterators, count, each, self, path or terraform for references', () => {
    assert.deepEqual(refs('${[for s in var.subnets : s.id if s.public]}'), ['var.subnets']);
    assert.deepEqual(refs('${{ for k, v in module.app : k => v.endpoint }}'), ['module.app']);
    assert.deepEqual(refs('${count.index}${each.value.x}${self.id}${path.module}${terraform.workspace}'), []);
    assert.deepEqual(refs('%{ for x in var.l }${x.name}%{ endfor }'), ['var.l']);
    assert.deepEqual(refs('%{~ for x in var.l ~}${x.name}%{~ endfor ~}'), ['var.l']);
  });

  it('leaves dynamic block iterators (given as excluded) and function names alone', () => {
    assert.deepEqual(refs('${ingress.value.port}', ['ingress']), []);
    assert.deepEqual(refs('${jsonencode(merge(var.a, local.b))}'), ['var.a', 'local.b']);
    assert.deepEqual(refs('${provider::aws::arn_parse(var.arn).account_id}'), ['var.arn']);
  });

  it('reads nested strings, heredoc-free templates, comments and escapes', () => {
    assert.deepEqual(refs('${"${var.a}-x" == "y" ? local.b : "$${not.ref}"}'), ['var.a', 'local.b']);
    assert.deepEqual(refs('$${literal.thing} ${var.a}'), ['var.a']);
    assert.deepEqual(refs('${\n  # module.commented.out\n  var.a\n}'), ['var.a']);
    assert.deepEqual(refs('plain text, no references'), []);
  });

  it('rewrites the address part and keeps the traversal', () => {
    const out = rewriteReferences('${module.net[0].ids} and ${[for m in module.app : m.id]}', (r) => (r.kind === 'module' ? `var.in_${r.address.slice(7)}` : undefined));
    assert.equal(out, '${var.in_net[0].ids} and ${[for m in var.in_app : m.id]}');
  });
});
