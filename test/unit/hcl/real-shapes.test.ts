/**
 * Shapes met in real public root modules that once broke the parser or the synthesized roots.
 * Fixtures are small and written for these tests.
 */
import assert from 'node:assert/strict';
import { rewritePathReferences } from '../../../activities/hcl/expressions';
import { parseModuleFiles } from '../../../activities/hcl/parse-module';
import { synthesize } from '../../../activities/hcl/synthesize';
import { buildUnits } from '../../../activities/hcl/units';

async function synth(files: Record<string, string>): Promise<Record<string, Record<string, unknown>>> {
  const structure = await parseModuleFiles(files);
  const { callGraph, units } = buildUnits(structure, { execution: 'modules' });
  const s = synthesize({
    structure, callGraph, units,
    repoRoot: '/repo', stackRoot: '/repo/stacks/app', unitsDir: '/repo/.units', backend: { type: 'none' },
  });
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of [...s.units, s.outputs]) out[r.unit] = JSON.parse(r.files['main.tf.json']!) as Record<string, unknown>;
  return out;
}

describe('hcl: shapes from real root modules', () => {
  it('reads references in object keys: `(local.k) = …` and `"${var.k}" = …`', async () => {
    const files = {
      'main.tf': `
variable "subnet" { type = string }
locals { tag_key = "Team" }
resource "aws_sg" "a" { name = "a" }
resource "aws_vpc" "v" {
  tags = { (local.tag_key) = "net" }
  ranges = { "\${var.subnet}" = [1] }
  by_id = { (aws_sg.a.id) = true }
}
module "m" {
  source = "./m"
  secondary = { "\${var.subnet}-pods" = "10.0.0.0/16" }
}
`,
    };
    const st = await parseModuleFiles(files);
    const vpcRefs = st.resources['aws_vpc.v']!.refs.map((r) => r.address);
    assert.deepEqual(vpcRefs, ['aws_sg.a', 'local.tag_key', 'var.subnet']);
    assert.deepEqual(st.modules.m!.refs.map((r) => r.address), ['var.subnet']);

    const roots = await synth(files);
    const root = roots.root as { locals?: Record<string, string>; variable?: Record<string, unknown>; resource: { aws_vpc: { v: { tags: Record<string, string> } } } };
    assert.deepEqual(root.locals, { tag_key: 'Team' }, 'a local read only in a key is copied');
    assert.ok(root.variable && 'subnet' in root.variable);
    assert.deepEqual(root.resource.aws_vpc.v.tags, { '${(local.tag_key)}': 'net' });
    assert.ok(roots.m!.variable && 'subnet' in (roots.m!.variable as object), 'a variable read only in a module argument key is declared');
  });

  it('rewrites a node reference in an object key when the node is in another unit', async () => {
    const roots = await synth({
      'main.tf': `
module "net" { source = "./net" }
resource "aws_x" "y" { map = { (module.net.id) = 1 } }
`,
    });
    const unit = Object.values(roots).find((r) => JSON.stringify(r).includes('aws_x'))! as { resource: { aws_x: { y: { map: Record<string, number> } } } };
    assert.deepEqual(unit.resource.aws_x.y.map, { '${(var.stackly_module_net.id)}': 1 });
  });

  it('points path.module, path.root and path.cwd of generated roots at the original root', async () => {
    const roots = await synth({
      'main.tf': `
locals { name = "ex-\${basename(path.cwd)}" }
resource "aws_instance" "a" {
  user_data = templatefile("\${path.module}/ud.sh.tpl", { name = local.name })
  tags      = { root = path.root }
}
output "script" { value = file("\${path.module}/files/run.sh") }
`,
    });
    const root = roots.root as { locals: Record<string, string>; resource: { aws_instance: { a: { user_data: string; tags: Record<string, string> } } } };
    assert.equal(root.resource.aws_instance.a.user_data, '${templatefile("${"../../stacks/app"}/ud.sh.tpl", { name = local.name })}');
    assert.equal(root.resource.aws_instance.a.tags.root, '${"../../stacks/app"}');
    assert.equal(root.locals.name, 'ex-${basename(abspath("../../stacks/app"))}');
    const outputs = roots._outputs as { output: { script: { value: string } } };
    assert.equal(outputs.output.script.value, '${file("${"../../stacks/app"}/files/run.sh")}');
  });

  it('leaves `path` alone when it is an iterator or an attribute', () => {
    const keep = (s: string): string => rewritePathReferences(s, () => 'X');
    assert.equal(keep('${[for path in var.paths : path.module]}'), '${[for path in var.paths : path.module]}');
    assert.equal(keep('${var.path.module}'), '${var.path.module}');
    assert.equal(keep('${path.modules}'), '${path.modules}');
    assert.equal(keep('${path.module}/$${path.module}'), '${X}/$${path.module}');
  });
});

describe('hcl: .tf.json shapes', () => {
  it('reads lifecycle.replace_triggered_by as bare addresses in .tf.json, as in .tf', async () => {
    const json = await parseModuleFiles({
      'main.tf.json': JSON.stringify({
        resource: {
          aws_s3_bucket: { b: { bucket: 'b' } },
          aws_sg: { s: { lifecycle: { replace_triggered_by: ['aws_s3_bucket.b.id'], ignore_changes: ['tags'] } } },
        },
      }),
    });
    const hcl = await parseModuleFiles({
      'main.tf': 'resource "aws_s3_bucket" "b" { bucket = "b" }\nresource "aws_sg" "s" {\n  lifecycle {\n    replace_triggered_by = [aws_s3_bucket.b.id]\n    ignore_changes       = [tags]\n  }\n}\n',
    });
    const expected = [{ address: 'aws_s3_bucket.b', kind: 'resource', attr: 'id' }];
    assert.deepEqual(json.resources['aws_sg.s']!.refs, expected);
    assert.deepEqual(hcl.resources['aws_sg.s']!.refs, expected);
  });
});

describe('hcl: moved and import blocks', () => {
  const files = {
    'main.tf': `
variable "existing" { type = map(string) }
module "net" { source = "./net" }
resource "aws_s3_bucket" "logs" {
  for_each = var.existing
  bucket   = each.value
}
resource "aws_sg" "app" { vpc_id = module.net.vpc_id }
moved {
  from = aws_sg.old
  to   = aws_sg.app
}
moved {
  from = module.network
  to   = module.net
}
import {
  for_each = var.existing
  to       = aws_s3_bucket.logs[each.key]
  id       = each.value
}
import {
  to = module.net.aws_vpc.this
  id = data.aws_vpc.found.id
}
data "aws_vpc" "found" { default = true }
`,
  };

  it('counts the references of an import block as references of the node it imports into', async () => {
    const st = await parseModuleFiles(files);
    assert.deepEqual(st.modules.net!.refs, [{ address: 'data.aws_vpc.found', kind: 'data', attr: 'id' }]);
    assert.deepEqual(st.refactors!.map((r) => [r.kind, r.target]).sort(), [
      ['import', 'aws_s3_bucket.logs'], ['import', 'module.net'], ['moved', 'aws_sg.app'], ['moved', 'module.net'],
    ]);
  });

  it('synthesis copies each block into the unit holding its `to` node, with what it reads', async () => {
    const roots = await synth(files);
    const find = (addr: string): Record<string, unknown> => Object.values(roots).find((r) => JSON.stringify(r.resource ?? r.module ?? {}).includes(addr))!;
    const sg = find('"app"') as { moved?: unknown[] };
    assert.deepEqual(sg.moved, [{ from: 'aws_sg.old', to: 'aws_sg.app' }]);
    const logs = find('"logs"') as { import?: unknown[]; variable?: Record<string, unknown> };
    assert.deepEqual(logs.import, [{ for_each: '${var.existing}', to: 'aws_s3_bucket.logs[each.key]', id: '${each.value}' }]);
    assert.ok(logs.variable && 'existing' in logs.variable);
    const net = roots.net as { moved?: unknown[]; import?: unknown[] };
    assert.deepEqual(net.moved, [{ from: 'module.network', to: 'module.net' }]);
    assert.deepEqual(net.import, [{ to: 'module.net.aws_vpc.this', id: '${var.stackly_data_aws_vpc_found.id}' }]);
    assert.equal((roots._outputs as { moved?: unknown }).moved, undefined);
  });
});

describe('hcl: ephemeral blocks', () => {
  const files = {
    'main.tf': `
variable "length" { type = number }
variable "admin_token" {
  type      = string
  ephemeral = true
}
module "net" { source = "./net" }
ephemeral "random_password" "db" {
  length  = var.length
  special = true
}
locals { pw = ephemeral.random_password.db.result }
ephemeral "aws_secret" "token" { secret_id = module.net.secret_id }
provider "vault" { token = ephemeral.aws_secret.token.value }
resource "aws_db_instance" "main" {
  password_wo = local.pw
  subnet_id   = module.net.subnet_id
}
resource "vault_generic_secret" "s" { path = "x" }
resource "aws_ssm_parameter" "t" { value_wo = var.admin_token }
`,
  };

  it('resolves ephemeral blocks through into their readers (they are not nodes) and checks they exist', async () => {
    const structure = await parseModuleFiles(files);
    assert.deepEqual(Object.keys(structure.ephemerals!), ['ephemeral.aws_secret.token', 'ephemeral.random_password.db']);
    const { callGraph } = buildUnits(structure, { execution: 'modules' });
    assert.deepEqual(callGraph.uses['aws_db_instance.main'], {
      nodes: ['module.net'], vars: ['length'], locals: ['pw'], ephemerals: ['ephemeral.random_password.db'],
    });
    assert.deepEqual(callGraph.uses['vault_generic_secret.s']!.nodes, ['module.net'], 'through the provider configuration');
    assert.ok(!callGraph.nodes.some((n) => n.startsWith('ephemeral.')));

    await assert.rejects(parseModuleFiles({ 'main.tf': 'resource "x" "y" { v = ephemeral.random_password.nope.result }\n' })
      .then((st) => buildUnits(st, { execution: 'modules' })), /x\.y \(main\.tf:1\) references ephemeral\.random_password\.nope, which is not declared/);
  });

  it('copies an ephemeral block into every unit that reads it', async () => {
    const roots = await synth(files);
    const db = Object.values(roots).find((r) => JSON.stringify(r).includes('aws_db_instance')) as { ephemeral?: Record<string, unknown>; locals?: unknown; variable?: Record<string, unknown> };
    assert.deepEqual(db.ephemeral, { random_password: { db: { length: '${var.length}', special: true } }, aws_secret: { token: { secret_id: '${var.stackly_module_net.secret_id}' } } });
    assert.deepEqual(db.locals, { pw: '${ephemeral.random_password.db.result}' });
    assert.ok(db.variable && 'length' in db.variable);
    assert.equal((roots.net as { ephemeral?: unknown }).ephemeral, undefined);
    assert.deepEqual(db.variable!.admin_token, { type: 'string', ephemeral: true }, 'an ephemeral variable stays ephemeral');
  });
});
