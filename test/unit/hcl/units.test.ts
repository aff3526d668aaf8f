import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeStackDir } from '../../../activities/hcl/analyze';
import type { CallGraph } from '../../../activities/hcl/graph';
import { HclError } from '../../../activities/hcl/types';
import { parseModuleFiles } from '../../../activities/hcl/parse-module';
import { buildUnits, fixedReachIds, unitsFromCallGraph } from '../../../activities/hcl/units';
import { graphJson } from '../../../cli/graph';
import type { UnitGraph } from '../../../workflows/graph-types';
import { assertGolden, FIXTURES } from './golden';

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

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random call graph: modules may reference anything (cycles allowed); resources only reference
 * nodes "before" them in a hidden order or modules, so resource-only cycles never happen.
 */
function randomGraph(seed: number): CallGraph {
  const r = rng(seed);
  const nMod = 1 + Math.floor(r() * 8);
  const nRes = Math.floor(r() * 14);
  const nodes = [...Array.from({ length: nMod }, (_, i) => `module.m${i}`), ...Array.from({ length: nRes }, (_, i) => `t_r.r${i}`)];
  const edges = new Map<string, { from: string; to: string }>();
  const p = 0.1 + r() * 0.25;
  for (const a of nodes) for (const b of nodes) {
    if (a === b || r() > p) continue;
    if (a.startsWith('t_r.') && b.startsWith('t_r.') && Number(a.slice(5)) <= Number(b.slice(5))) continue;
    edges.set(`${a}>${b}`, { from: a, to: b });
  }
  const uses: CallGraph['uses'] = {};
  for (const n of nodes) uses[n] = { nodes: [...edges.values()].filter((e) => e.from === n).map((e) => e.to), vars: [], locals: [] };
  return { nodes: nodes.sort(), outputs: [], edges: [...edges.values()].sort((x, y) => (x.from + x.to < y.from + y.to ? -1 : 1)), uses };
}

function assertUnitInvariants(g: CallGraph, u: UnitGraph): void {
  const unitOf = new Map<string, string>();
  for (const unit of u.units) for (const m of unit.members) {
    assert.ok(!unitOf.has(m), `${m} is in two units`);
    unitOf.set(m, unit.name);
    assert.match(unit.name, /^[A-Za-z0-9_.-]+$/);
  }
  assert.deepEqual([...unitOf.keys()].sort(), [...g.nodes].sort(), 'every node is in exactly one unit');
  // unit order is topological and dependsOn covers every cross-unit edge
  const pos = new Map(u.units.map((x, i) => [x.name, i]));
  for (const unit of u.units) for (const d of unit.dependsOn) assert.ok(pos.get(d)! < pos.get(unit.name)!, `${unit.name} comes before its dependency ${d}`);
  for (const e of g.edges) {
    if (e.from.startsWith('output.')) continue;
    const a = unitOf.get(e.from)!, b = unitOf.get(e.to)!;
    if (a !== b) assert.ok(u.units[pos.get(a)!]!.dependsOn.includes(b), `edge ${e.from}→${e.to} missing as ${a}→${b}`);
  }
  // each module is alone unless on a cycle with other modules
  for (const unit of u.units) {
    const mods = unit.members.filter((m) => m.startsWith('module.'));
    if (unit.kind === 'module') assert.equal(mods.length, 1);
    if (unit.kind === 'resources') assert.equal(mods.length, 0);
  }
}

describe('hcl/units', () => {
  it('turns a real-world shaped root module into units (golden)', async () => {
    const { units, callGraph } = await analyzeStackDir(join(FIXTURES, 'realistic'));
    assertUnitInvariants(callGraph, units);
    assertGolden('realistic/graph.json', `${JSON.stringify(graphJson(units), null, 2)}\n`);
    assertGolden('realistic/units.json', `${JSON.stringify(units, null, 2)}\n`);
    const byName = new Map(units.units.map((u) => [u.name, u]));
    assert.deepEqual(byName.get('eks.kms')!.members, ['module.eks', 'module.kms'], 'the two-module cycle is one unit');
    assert.equal(byName.get('app')!.kind, 'module');
    // outputs are not units, and wait for what they read
    assert.deepEqual(units.outputs.find((o) => o.name === 'key'), { name: 'key', dependsOn: ['eks.kms'], sensitive: true });
  });

  it('execution = "single" makes one unit', async () => {
    const { units } = await analyzeStackDir(join(FIXTURES, 'single'));
    assert.equal(units.execution, 'single');
    assert.equal(units.units.length, 1);
    assert.deepEqual(units.units[0]!.members, ['module.a', 'module.b', 'terraform_data.x']);
    assert.deepEqual(units.outputs, [{ name: 'out', dependsOn: ['root'], sensitive: false }]);
  });

  it('a cycle among root resources is an error naming every address on it', async () => {
    await rejects(analyzeStackDir(join(FIXTURES, 'bad', 'resource-cycle')), (e) => {
      assert.equal(e.kind, 'cycle');
      for (const a of ['terraform_data.a', 'terraform_data.b', 'terraform_data.c']) assert.ok(e.message.includes(a), e.message);
    });
  });

  it('a reference to a module that does not exist names both ends', async () => {
    await rejects(analyzeStackDir(join(FIXTURES, 'bad', 'dangling-module')), (e) => {
      assert.equal(e.kind, 'dangling');
      assert.match(e.message, /module\.app \(main\.tf:1\) references module\.nett, which is not declared/);
    });
  });

  it('a reference to an output the local module source does not declare is an error', async () => {
    await rejects(analyzeStackDir(join(FIXTURES, 'bad', 'dangling-output')), (e) => {
      assert.match(e.message, /module\.app .* references module\.net\.vpc_idd, but module "net" \(source \.\/modules\/net\) declares no output "vpc_idd"/);
    });
  });

  it('a reference to an undeclared variable is an error', async () => {
    await rejects(analyzeStackDir(join(FIXTURES, 'bad', 'dangling-var')), (e) => assert.match(e.message, /terraform_data\.x .* references var\.missing/));
  });

  it('never creates a cycle and keeps every invariant on random graphs', () => {
    let merged = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const g = randomGraph(seed);
      const u = unitsFromCallGraph(g);
      assertUnitInvariants(g, u);
      // deterministic
      assert.deepEqual(unitsFromCallGraph(g), u);
      merged += u.units.filter((x) => x.kind === 'resources' && x.members.length > 1).length;
    }
    assert.ok(merged > 0, 'the generator exercises grouping');
  });

  it('groups resources into few units: independent resources share one', () => {
    const g: CallGraph = {
      nodes: ['module.a', 't_x.one', 't_x.two', 't_x.three'],
      outputs: [],
      edges: [{ from: 'module.a', to: 't_x.one' }, { from: 't_x.three', to: 'module.a' }],
      uses: {},
    };
    const u = unitsFromCallGraph(g);
    assert.deepEqual(u.units.map((x) => [x.name, x.members, x.dependsOn]), [
      ['root-1', ['t_x.one', 't_x.two'], []],
      ['a', ['module.a'], ['root-1']],
      ['root-2', ['t_x.three'], ['a']],
    ]);
  });
});

describe('hcl/units: reachable module sets (fixedReachIds)', () => {
  /** A random DAG over n nodes (edges only from higher to lower index), some nodes fixed. */
  function randomDag(seed: number): { adj: Set<number>[]; fixed: boolean[] } {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 40);
    const p = r() * 0.2;
    const adj = Array.from({ length: n }, (_, a) => new Set(Array.from({ length: a }, (_, b) => b).filter(() => r() < p)));
    return { adj, fixed: Array.from({ length: n }, () => r() < 0.3) };
  }
  const bruteForce = (adj: Set<number>[], fixed: boolean[], c: number): string => {
    const seen = new Set<number>([c]);
    const stack = [c];
    const found: number[] = [];
    while (stack.length) for (const w of adj[stack.pop()!]!) if (!seen.has(w)) { seen.add(w); stack.push(w); if (fixed[w]) found.push(w); }
    return found.sort((a, b) => a - b).join(',');
  };

  it('gives two components the same id exactly when they reach the same module components', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const { adj, fixed } = randomDag(seed);
      const order = adj.map((_, i) => i); // every node's successors have lower indexes
      const ids = fixedReachIds(order, adj, fixed);
      const sets = adj.map((_, c) => bruteForce(adj, fixed, c));
      for (let a = 0; a < adj.length; a++) for (let b = 0; b < adj.length; b++) {
        assert.equal(ids[a] === ids[b], sets[a] === sets[b], `seed ${seed}: ${a} {${sets[a]}} vs ${b} {${sets[b]}}`);
      }
    }
  });

  it('handles more than 32 module components (several bitset words) and long chains', () => {
    const n = 5000;
    // A chain alternating module and resource components: i depends on i - 1.
    const adj = Array.from({ length: n }, (_, i) => new Set(i ? [i - 1] : []));
    const fixed = Array.from({ length: n }, (_, i) => i % 2 === 0);
    const ids = fixedReachIds(adj.map((_, i) => i), adj, fixed);
    assert.equal(new Set(ids).size, n / 2 + 1, 'the empty set, then a new set after each module');
    for (let i = 2; i < n; i += 2) assert.equal(ids[i], ids[i - 1]);
  });
});

describe('hcl/units: locals', () => {
  it('a cycle among locals is an error, not a hang', async () => {
    const st = await parseModuleFiles({ 'main.tf': 'locals {\n  a = local.b\n  b = "${local.a}-x"\n}\n' });
    assert.throws(() => buildUnits(st), (e: unknown) => e instanceof HclError && e.kind === 'cycle' && /local\.a/.test(e.message));
  });

  it('resolves locals transitively into edges and keeps variables out of the graph', async () => {
    const st = await parseModuleFiles({
      'main.tf': [
        'variable "v" {}',
        'locals {\n  one = terraform_data.x.output\n  two = [for i in local.one : i]\n}',
        'resource "terraform_data" "x" {\n  input = var.v\n}',
        'module "m" {\n  source = "./m"\n  in     = local.two\n}',
        '',
      ].join('\n'),
    });
    const { callGraph } = buildUnits(st);
    assert.deepEqual(callGraph.edges, [{ from: 'module.m', to: 'terraform_data.x' }]);
    assert.deepEqual(callGraph.uses['module.m'], { nodes: ['terraform_data.x'], vars: [], locals: ['one', 'two'] });
  });
});
