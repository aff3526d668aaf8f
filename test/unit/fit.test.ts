import assert from 'node:assert/strict';
import type { ResourceChange } from '../../workflows/model/terraform';
import { belongsTo, checkFit } from '../../workflows/fit';

const ch = (address: string, actions: string[], after: unknown, afterUnknown: unknown = {}): ResourceChange => ({
  address, mode: 'managed', type: 'terraform_data', actions, after, afterUnknown,
});

describe('fit check: unit plan against the approved review plan', () => {
  const members = ['module.app'];

  it('fits when values unknown at review are now known', () => {
    const reviewed = [ch('module.app.terraform_data.x', ['create'], { input: null, output: null }, { input: true, output: true })];
    const planned = [ch('module.app.terraform_data.x', ['create'], { input: 'subnet-1', output: null }, { output: true })];
    assert.deepEqual(checkFit(reviewed, planned, members), { fits: true, problems: [] });
  });

  it('does not fit when a value known at review changed, and names the address and the path', () => {
    const reviewed = [ch('module.app.terraform_data.x', ['create'], { input: { size: 'small' } }, { output: true })];
    const planned = [ch('module.app.terraform_data.x', ['create'], { input: { size: 'large' } }, { output: true })];
    const r = checkFit(reviewed, planned, members);
    assert.equal(r.fits, false);
    assert.deepEqual(r.problems, [{ address: 'module.app.terraform_data.x', reason: 'value known at review changed: input.size: reviewed "small", now "large"' }]);
  });

  it('does not fit on other actions, new addresses, or approved changes that disappeared', () => {
    const reviewed = [ch('module.app.terraform_data.a', ['update'], {}), ch('module.app.terraform_data.gone', ['create'], {})];
    const planned = [ch('module.app.terraform_data.a', ['delete', 'create'], {}), ch('module.app.terraform_data.new', ['create'], {})];
    const reasons = checkFit(reviewed, planned, members).problems.map((p) => `${p.address}: ${p.reason}`);
    assert.deepEqual(reasons, [
      'module.app.terraform_data.a: reviewed as update, now planned as delete+create',
      'module.app.terraform_data.gone: reviewed create is no longer planned',
      'module.app.terraform_data.new: planned create was not in the reviewed plan',
    ]);
  });

  it('after a lost worker (resumed): approved changes already applied may be gone; anything else still must fit', () => {
    const reviewed = [ch('module.app.terraform_data.a', ['create'], { input: 'a' }), ch('module.app.terraform_data.b', ['create'], { input: 'b' })];
    const rest = [ch('module.app.terraform_data.b', ['create'], { input: 'b' })];
    assert.deepEqual(checkFit(reviewed, rest, members, { resumed: true }), { fits: true, problems: [] });
    assert.equal(checkFit(reviewed, rest, members).fits, false, 'not without resuming');
    const tainted = [ch('module.app.terraform_data.b', ['delete', 'create'], { input: 'b' })];
    assert.deepEqual(checkFit(reviewed, tainted, members, { resumed: true }).problems, [
      { address: 'module.app.terraform_data.b', reason: 'reviewed as create, now planned as delete+create' },
    ]);
    const changed = [ch('module.app.terraform_data.b', ['create'], { input: 'B' })];
    assert.equal(checkFit(reviewed, changed, members, { resumed: true }).fits, false);
  });

  it('ignores no-op, reads, and other units\' changes', () => {
    const reviewed = [ch('module.net.terraform_data.n', ['create'], {}), ch('module.app.terraform_data.x', ['no-op'], {})];
    const planned = [ch('module.app.terraform_data.x', ['no-op'], {}), { ...ch('data.x.y', ['read'], {}), mode: 'data' as const }];
    assert.equal(checkFit(reviewed, planned, members).fits, true);
  });

  it('knows which addresses belong to a unit', () => {
    assert.ok(belongsTo('module.app.terraform_data.x', ['module.app']));
    assert.ok(belongsTo('module.app[0].terraform_data.x', ['module.app']));
    assert.ok(belongsTo('module.app["k"].terraform_data.x', ['module.app']));
    assert.ok(!belongsTo('module.apple.terraform_data.x', ['module.app']));
    assert.ok(belongsTo('terraform_data.sg', ['terraform_data.sg']));
    assert.ok(belongsTo('terraform_data.sg[1]', ['terraform_data.sg']));
    assert.ok(!belongsTo('terraform_data.sg2', ['terraform_data.sg']));
  });
});
