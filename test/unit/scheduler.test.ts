import assert from 'node:assert/strict';
import {
  dependantsOf, executionOrder, initialState, isFinished, nextState, readyUnits, reverse, type SchedGraph, type SchedState,
} from '../../workflows/scheduler';

//   a ─┬─> b ──> d
//      └─> c
//   e (independent)        (arrows: "is needed by")
const G: SchedGraph = {
  units: [
    { name: 'a', dependsOn: [] },
    { name: 'e', dependsOn: [] },
    { name: 'b', dependsOn: ['a'] },
    { name: 'c', dependsOn: ['a'] },
    { name: 'd', dependsOn: ['b', 'c'] },
  ],
};

const start = (s: SchedState, ...units: string[]): SchedState => units.reduce((acc, u) => nextState(acc, { type: 'started', unit: u }), s);
const done = (s: SchedState, ...units: string[]): SchedState => units.reduce((acc, u) => nextState(acc, { type: 'succeeded', unit: u }, G), s);

describe('workflows/scheduler', () => {
  it('starts units whose dependencies are done, up to the parallelism limit', () => {
    const s0 = initialState(G);
    assert.deepEqual(readyUnits(G, s0, 4), ['a', 'e']);
    assert.deepEqual(readyUnits(G, s0, 1), ['a']);
    const s1 = start(s0, 'a', 'e');
    assert.deepEqual(readyUnits(G, s1, 4), []);
    assert.deepEqual(readyUnits(G, done(s1, 'a'), 4), ['b', 'c']);
    assert.deepEqual(readyUnits(G, done(s1, 'a'), 2), ['b'], 'e is still running: one slot left');
  });

  it('a unit is ready the moment its own dependencies are done, not level by level', () => {
    const g: SchedGraph = { units: [{ name: 'slow', dependsOn: [] }, { name: 'fast', dependsOn: [] }, { name: 'next', dependsOn: ['fast'] }] };
    let s = start(initialState(g), 'slow', 'fast');
    s = nextState(s, { type: 'succeeded', unit: 'fast' }, g);
    assert.deepEqual(readyUnits(g, s, 4), ['next']);
  });

  it('a failure skips its transitive dependants with the reason; independent branches go on', () => {
    let s = start(initialState(G), 'a', 'e');
    s = done(s, 'a');
    s = start(s, 'b', 'c');
    s = nextState(s, { type: 'failed', unit: 'b', reason: 'apply failed' }, G);
    assert.equal(s.units.d!.status, 'skipped');
    assert.match(s.units.d!.reason!, /b failed: apply failed/);
    assert.equal(s.units.c!.status, 'running');
    assert.equal(isFinished(s), false);
    s = done(s, 'c', 'e');
    assert.equal(isFinished(s), true);
    assert.deepEqual(readyUnits(G, s, 4), []);
  });

  it('never mutates its inputs', () => {
    const s0 = initialState(G);
    const frozen = JSON.stringify(s0);
    const g = JSON.stringify(G);
    nextState(s0, { type: 'started', unit: 'a' });
    nextState(start(s0, 'a'), { type: 'failed', unit: 'a', reason: 'x' }, G);
    readyUnits(G, s0, 2);
    reverse(G);
    assert.equal(JSON.stringify(s0), frozen);
    assert.equal(JSON.stringify(G), g);
  });

  it('refuses impossible transitions and unknown units', () => {
    assert.throws(() => nextState(initialState(G), { type: 'started', unit: 'zz' }), /unknown unit zz/);
    assert.throws(() => start(start(initialState(G), 'a'), 'a'), /cannot start a: it is running/);
  });

  it('reverse gives the destroy order', () => {
    const r = reverse(G);
    assert.deepEqual(executionOrder(G), ['a', 'e', 'b', 'c', 'd']);
    assert.deepEqual(executionOrder(r), ['d', 'c', 'b', 'e', 'a']);
    assert.deepEqual(r.units.find((u) => u.name === 'a')!.dependsOn, ['b', 'c']);
    assert.deepEqual(dependantsOf(G, 'a'), ['b', 'c', 'd']);
  });

  it('runs random DAGs to completion in dependency order (property)', () => {
    let seed = 7;
    const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rand() * 12);
      const units = Array.from({ length: n }, (_, i) => ({ name: `u${i}`, dependsOn: Array.from({ length: i }, (_, j) => `u${j}`).filter(() => rand() < 0.3) }));
      const g: SchedGraph = { units };
      const par = 1 + Math.floor(rand() * 4);
      let s = initialState(g);
      const finished: string[] = [];
      const running: string[] = [];
      const failAt = rand() < 0.3 ? `u${Math.floor(rand() * n)}` : undefined;
      while (!isFinished(s)) {
        const ready = readyUnits(g, s, par);
        for (const u of ready) { s = nextState(s, { type: 'started', unit: u }); running.push(u); }
        assert.ok(running.length <= par);
        assert.ok(running.length > 0, 'no deadlock');
        const u = running.splice(Math.floor(rand() * running.length), 1)[0]!;
        for (const d of g.units.find((x) => x.name === u)!.dependsOn) assert.ok(finished.includes(d), `${u} ran before ${d}`);
        s = nextState(s, u === failAt ? { type: 'failed', unit: u, reason: 'boom' } : { type: 'succeeded', unit: u }, g);
        finished.push(u);
      }
      if (failAt) for (const d of dependantsOf(g, failAt)) assert.equal(s.units[d]!.status, 'skipped');
    }
  });
});
