import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeStackDir } from '../../../activities/hcl/analyze';
import { ctyTypeConstraint, stateKey, synthesize } from '../../../activities/hcl/synthesize';
import { HclError } from '../../../activities/hcl/types';
import { assertGolden, FIXTURES } from './golden';

describe('hcl/synthesize', () => {
  it('generates one root per unit plus the outputs root, and the wiring (golden)', async () => {
    const a = await analyzeStackDir(join(FIXTURES, 'realistic'));
    const s = synthesize({
      structure: a.structure, callGraph: a.callGraph, units: a.units,
      repoRoot: '/repo', stackRoot: '/repo/stacks/realistic', unitsDir: '/work/run/units',
      backend: { type: 's3', account: 'acme', stack: 'realistic', state: 'prod' },
    });
    for (const r of [...s.units, s.outputs]) for (const [f, text] of Object.entries(r.files)) assertGolden(`realistic/synth/${r.dir}/${f}`, text);
    assertGolden('realistic/wiring.json', `${JSON.stringify(s.wiring, null, 2)}\n`);

    const app = JSON.parse(s.units.find((u) => u.unit === 'app')!.files['main.tf.json']!);
    assert.equal(app.module.app.source, '../../../../repo/stacks/realistic/modules/app');
    assert.equal(app.module.app.sg_id, '${var.stackly_aws_security_group_app.id}');
    assert.equal(app.locals.subnet, '${var.stackly_module_net[0].subnet_ids}');
    assert.deepEqual(app.module.app.providers, { aws: 'aws.west' });
    assert.equal(app.module.app.depends_on, undefined, 'depends_on on another unit is kept by the unit order instead');
    assert.equal(app.terraform.backend.s3.key, 'acme/realistic/prod/app.tfstate');
    const sg = JSON.parse(s.units.find((u) => u.unit === 'root-2')!.files['main.tf.json']!);
    assert.equal(sg.resource.aws_security_group.app.dynamic.ingress[0].content[0].from_port, '${ingress.value}');
    assert.deepEqual(sg.resource.aws_security_group.app.lifecycle[0].ignore_changes, ['tags']);
    // sensitive stays sensitive
    const outs = JSON.parse(s.outputs.files['main.tf.json']!);
    assert.equal(outs.output.key.sensitive, true);
    assert.equal(JSON.parse(s.outputs.files['stackly-inputs.tf.json']!).variable.stackly_module_kms.sensitive, true);
    const rec = JSON.parse(s.units.find((u) => u.unit === 'root-3')!.files['main.tf.json']!);
    assert.equal(rec.variable.zone_id.sensitive, true);
    // wiring: every input comes from an export of the unit it names
    const exports = new Set(s.wiring.units.flatMap((w) => w.exports.map((e) => `${w.unit}/${e.output}`)));
    for (const w of [...s.wiring.units, s.wiring.outputs]) for (const i of w.inputs) assert.ok(exports.has(`${i.fromUnit}/${i.output}`), `${w.unit} needs ${i.fromUnit}/${i.output}`);
  });

  it('refuses a local module source outside the repository', async () => {
    const dir = join(FIXTURES, 'bad', 'escape', 'stack');
    const a = await analyzeStackDir(dir);
    assert.throws(() => synthesize({
      structure: a.structure, callGraph: a.callGraph, units: a.units,
      repoRoot: join(FIXTURES, 'bad', 'escape'), stackRoot: dir, unitsDir: '/tmp/units', backend: { type: 'none' },
    }), (e: unknown) => e instanceof HclError && e.kind === 'source' && /module "outside" \(main\.tf\): source "\.\.\/.*" resolves outside the repository/.test(e.message));
  });

  it('builds state keys and refuses unsafe parts', () => {
    assert.equal(stateKey('acme', 'net', 'prod', 'eks.kms'), 'acme/net/prod/eks.kms.tfstate');
    assert.throws(() => stateKey('acme', '../x', 'prod', 'u'), /stack "\.\.\/x"/);
  });
});

describe('hcl/synthesize: typed inputs', () => {
  it('turns cty JSON types into type constraints', () => {
    assert.equal(ctyTypeConstraint('string'), 'string');
    assert.equal(ctyTypeConstraint(['set', 'string']), 'set(string)');
    assert.equal(ctyTypeConstraint(['list', ['map', 'number']]), 'list(map(number))');
    assert.equal(ctyTypeConstraint(['tuple', ['string', 'bool']]), 'tuple([string, bool])');
    assert.equal(ctyTypeConstraint(['object', { id: 'string', tags: ['set', 'string'] }]), 'object({id = string, tags = set(string)})');
    // for_each module instances: keys are not identifiers → a map when the values agree
    assert.equal(ctyTypeConstraint(['object', { 'a.b': ['object', { out: 'string' }], c: ['object', { out: 'string' }] }]), 'map(object({out = string}))');
    assert.equal(ctyTypeConstraint(['object', { 'a.b': 'string', c: 'number' }]), 'any');
    assert.equal(ctyTypeConstraint('dynamic'), 'any');
  });
});
