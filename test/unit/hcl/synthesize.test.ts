import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeStackDir } from '../../../activities/hcl/analyze';
import { ctyTypeConstraint, synthesize } from '../../../activities/hcl/synthesize';
import { stateKey, stateKeyPrefix } from '../../../common/state-keys';
import { HclError } from '../../../activities/hcl/types';
import { assertGolden, FIXTURES } from './golden';

describe('hcl/synthesize', () => {
  it('generates one root per unit plus the outputs root, and the wiring (golden)', async () => {
    const a = await analyzeStackDir(join(FIXTURES, 'realistic'));
    const s = synthesize({
      structure: a.structure, callGraph: a.callGraph, units: a.units,
      repoRoot: '/repo', stackRoot: '/repo/stacks/realistic', unitsDir: '/work/run/units',
      backend: { type: 's3', prefix: 'acme/6f1c2a9e-7d4b-4c3a-9e2f-1a2b3c4d5e6f/' },
    });
    for (const r of [...s.units, s.outputs]) for (const [f, text] of Object.entries(r.files)) assertGolden(`realistic/synth/${r.dir}/${f}`, text);
    assertGolden('realistic/wiring.json', `${JSON.stringify(s.wiring, null, 2)}\n`);

    const app = JSON.parse(s.units.find((u) => u.unit === 'app')!.files['main.tf.json']!);
    assert.equal(app.module.app.source, '../../../../repo/stacks/realistic/modules/app');
    assert.equal(app.module.app.sg_id, '${var.stackly_aws_security_group_app.id}');
    assert.equal(app.locals.subnet, '${var.stackly_module_net[0].subnet_ids}');
    assert.deepEqual(app.module.app.providers, { aws: 'aws.west' });
    assert.equal(app.module.app.depends_on, undefined, 'depends_on on another unit is kept by the unit order instead');
    assert.equal(app.terraform.backend.s3.key, 'acme/6f1c2a9e-7d4b-4c3a-9e2f-1a2b3c4d5e6f/app.tfstate');
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

  it('builds state keys from the state id and refuses anything else', () => {
    const id = '6f1c2a9e-7d4b-4c3a-9e2f-1a2b3c4d5e6f';
    assert.equal(stateKeyPrefix('acme', id), `acme/${id}/`);
    assert.equal(stateKey(stateKeyPrefix('acme', id), 'eks.kms'), `acme/${id}/eks.kms.tfstate`);
    // A name from stack.hcl is never a key: only the id-derived prefix is accepted.
    assert.throws(() => stateKey('acme/net/prod/', 'u'), /not a state prefix/);
    assert.throws(() => stateKeyPrefix('acme', 'net'), /not a uuid/);
    assert.throws(() => stateKeyPrefix('../x', id), /account "\.\.\/x"/);
    assert.throws(() => stateKey(stateKeyPrefix('acme', id), '../u'), /unit "\.\.\/u"/);
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
