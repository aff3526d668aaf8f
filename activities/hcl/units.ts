/**
 * From the call-level graph to units (pure, deterministic).
 *
 * 1. Strongly connected components of the graph without outputs (iterative Tarjan).
 *    A component with a module call becomes one unit (module calls on a cycle, which Terraform
 *    accepts since its own graph is per resource, plus any root resource on that cycle).
 *    A cyclic component of root resources only is an error: Terraform rejects it too.
 * 2. Every remaining root resource / data source is grouped with the others that have the same set
 *    of module units upstream and downstream of it. Such a grouping can never close a cycle: a
 *    path between two members through a module unit would put that unit both upstream and
 *    downstream of the group, and a path through other resources forces those resources to share
 *    the same sets, i.e. to be in the group (see the proof sketch in activities/README.md).
 * 3. Then groups are merged greedily (in topological order) while the unit graph stays acyclic,
 *    checked by reachability each time, as long as the graph is small enough for that to be cheap.
 * 4. A last check asserts the unit graph is acyclic.
 *
 * Unit names: a module call's unit is named after the module (`net`); merged module calls are
 * joined with "." in sorted order (`eks.kms`, module names cannot contain "."); resource units
 * are `root`, `root-2`, … in topological order. Names contain only [A-Za-z0-9_.-] and are usable
 * as file names and S3 key parts.
 */
import type { RootOutput, Unit, UnitGraph } from '../../workflows/graph-types';
import { buildCallGraph, cmp, type CallGraph } from './graph';
import { HclError, type ModuleStructure } from './types';

export interface UnitOptions {
  execution?: 'modules' | 'single';
}

/** Parsed module → unit graph (builds and validates the call graph first). */
export function buildUnits(st: ModuleStructure, opts: UnitOptions = {}): { callGraph: CallGraph; units: UnitGraph } {
  const callGraph = buildCallGraph(st);
  const sensitive = new Set(Object.values(st.outputs).filter((o) => o.sensitive).map((o) => `output.${o.name}`));
  return { callGraph, units: unitsFromCallGraph(callGraph, { ...opts, sensitiveOutputs: sensitive, files: fileIndex(st) }) };
}

function fileIndex(st: ModuleStructure): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of Object.values(st.resources)) m.set(r.address, r.file);
  return m;
}

/** Tarjan's SCC, iterative (10,000-node graphs would overflow a recursive one). */
export function stronglyConnected(n: number, succ: number[][]): number[][] {
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const out: number[][] = [];
  let next = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    const work: Array<[number, number]> = [[root, 0]];
    index[root] = low[root] = next++;
    stack.push(root);
    onStack[root] = true;
    while (work.length) {
      const top = work[work.length - 1]!;
      const [v, i] = top;
      const ss = succ[v]!;
      if (i < ss.length) {
        top[1] = i + 1;
        const w = ss[i]!;
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack.push(w);
          onStack[w] = true;
          work.push([w, 0]);
        } else if (onStack[w]) low[v] = Math.min(low[v]!, index[w]!);
      } else {
        work.pop();
        if (work.length) { const u = work[work.length - 1]![0]; low[u] = Math.min(low[u]!, low[v]!); }
        if (low[v] === index[v]) {
          const comp: number[] = [];
          let w: number;
          do { w = stack.pop()!; onStack[w] = false; comp.push(w); } while (w !== v);
          out.push(comp);
        }
      }
    }
  }
  return out;
}

/** Kahn's algorithm with a deterministic tie-break; returns undefined on a cycle. */
export function topoOrder(names: string[], deps: (name: string) => string[]): string[] | undefined {
  const indeg = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const n of names) { indeg.set(n, 0); dependants.set(n, []); }
  for (const n of names) for (const d of deps(n)) {
    if (!indeg.has(d) || d === n) continue;
    indeg.set(n, indeg.get(n)! + 1);
    dependants.get(d)!.push(n);
  }
  const ready = new MinHeap();
  for (const n of names) if (indeg.get(n) === 0) ready.push(n);
  const out: string[] = [];
  while (ready.size) {
    const n = ready.pop();
    out.push(n);
    for (const m of dependants.get(n)!) {
      const k = indeg.get(m)! - 1;
      indeg.set(m, k);
      if (k === 0) ready.push(m);
    }
  }
  return out.length === names.length ? out : undefined;
}

/** A binary min-heap of strings (code-unit order), for a deterministic Kahn's algorithm. */
class MinHeap {
  private readonly a: string[] = [];
  get size(): number { return this.a.length; }
  push(v: string): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): string {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** One concrete cycle inside a strongly connected set (for the error message). */
function findCycle(members: number[], succ: number[][]): number[] {
  const inSet = new Set(members);
  const start = Math.min(...members);
  const parent = new Map<number, number>();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of succ[v]!) {
      if (!inSet.has(w)) continue;
      if (w === start) {
        const path = [v];
        let x = v;
        while (x !== start) { x = parent.get(x)!; path.push(x); }
        return path.reverse();
      }
      if (!seen.has(w)) { seen.add(w); parent.set(w, v); queue.push(w); }
    }
  }
  return members;
}

const MAX_NAME = 100;

export interface FromCallGraphOptions extends UnitOptions {
  sensitiveOutputs?: Set<string>;
  files?: Map<string, string>;
}

/** Call graph → unit graph. Exported for property tests over random graphs. */
export function unitsFromCallGraph(g: CallGraph, opts: FromCallGraphOptions = {}): UnitGraph {
  const execution = opts.execution ?? 'modules';
  const ids = new Map<string, number>();
  g.nodes.forEach((n, i) => ids.set(n, i));
  const succ: number[][] = g.nodes.map(() => []);
  for (const e of g.edges) {
    const a = ids.get(e.from);
    const b = ids.get(e.to);
    if (a === undefined || b === undefined) continue; // edges from outputs
    succ[a]!.push(b);
  }
  const isModule = (i: number): boolean => g.nodes[i]!.startsWith('module.');

  // 1. Components; cycles among root resources only are errors.
  const comps = stronglyConnected(g.nodes.length, succ);
  const compOf = new Array<number>(g.nodes.length).fill(0);
  comps.forEach((c, ci) => c.forEach((v) => (compOf[v] = ci)));
  for (const c of comps) {
    const cyclic = c.length > 1 || succ[c[0]!]!.includes(c[0]!);
    if (cyclic && !c.some(isModule)) {
      const cycle = findCycle(c, succ).map((v) => g.nodes[v]!);
      const all = c.map((v) => g.nodes[v]!).sort(cmp);
      const file = opts.files?.get(cycle[0]!);
      throw new HclError('cycle', `cycle among root resources: ${[...cycle, cycle[0]].join(' → ')}` +
        (all.length > cycle.length ? ` (all on the cycle: ${all.join(', ')})` : ''), file);
    }
  }

  const unitsOut: Unit[] = [];
  const outputsOf = (unitOfNode: (addr: string) => string): RootOutput[] => g.outputs.map((o) => ({
    name: o.slice(7),
    dependsOn: [...new Set((g.uses[o]?.nodes ?? []).map(unitOfNode))].sort(cmp),
    sensitive: opts.sensitiveOutputs?.has(o) ?? false,
  }));

  if (execution === 'single') {
    if (g.nodes.length) unitsOut.push({ name: 'root', kind: 'single', members: [...g.nodes].sort(cmp), dependsOn: [] });
    return { execution, units: unitsOut, references: g.edges, outputs: outputsOf(() => 'root') };
  }

  // Condensed DAG over components.
  const nc = comps.length;
  const csucc: Set<number>[] = comps.map(() => new Set());
  const cpred: Set<number>[] = comps.map(() => new Set());
  for (let v = 0; v < succ.length; v++) for (const w of succ[v]!) {
    const a = compOf[v]!, b = compOf[w]!;
    if (a !== b) { csucc[a]!.add(b); cpred[b]!.add(a); }
  }
  const fixed = comps.map((c) => c.some(isModule));

  // 2. Key = (module units it depends on, module units that depend on it), transitively: the two
  //    sets of every component, interned, computed in one pass each way over the condensed DAG.
  const topo = condensedTopoOrder(csucc, cpred);
  const downId = fixedReachIds(topo, csucc, fixed);
  const upId = fixedReachIds([...topo].reverse(), cpred, fixed);
  const groupOf = new Array<number>(nc).fill(-1);
  const groups: number[][] = [];
  const byKey = new Map<string, number>();
  for (let c = 0; c < nc; c++) {
    if (fixed[c]) continue;
    const key = `${downId[c]}|${upId[c]}`;
    let gi = byKey.get(key);
    if (gi === undefined) { gi = groups.length; groups.push([]); byKey.set(key, gi); }
    groups[gi]!.push(c);
    groupOf[c] = gi;
  }

  // 3. Greedy merge of groups while acyclic (bounded work).
  const alive = groups.map(() => true);
  const budget = 5e7;
  if (groups.length > 1 && groups.length * groups.length * (nc + g.edges.length) <= budget) {
    // Is there a path from group a to group b through something outside a and b?
    const pathVia = (a: number, b: number): boolean => {
      const seen = new Set<number>();
      const q: number[] = [];
      const enter = (c: number): void => {
        if (seen.has(c)) return;
        const gi = groupOf[c]!;
        if (gi >= 0 && gi !== a && gi !== b) { for (const x of groups[gi]!) if (!seen.has(x)) { seen.add(x); q.push(x); } } else { seen.add(c); q.push(c); }
      };
      for (const c of groups[a]!) for (const w of csucc[c]!) if (groupOf[w] !== a && groupOf[w] !== b) enter(w);
      while (q.length) {
        const v = q.pop()!;
        if (groupOf[v] === b) return true;
        for (const w of csucc[v]!) if (groupOf[w] !== a) enter(w);
      }
      return false;
    };
    const order = groupTopo(groups, groupOf, csucc);
    for (let i = 0; i < order.length; i++) {
      const gi = order[i]!;
      for (let j = 0; j < i; j++) {
        const gj = order[j]!;
        if (!alive[gj]) continue;
        if (pathVia(gj, gi) || pathVia(gi, gj)) continue;
        for (const c of groups[gi]!) groupOf[c] = gj;
        groups[gj]!.push(...groups[gi]!);
        groups[gi] = [];
        alive[gi] = false;
        break;
      }
    }
  }

  // 4. Units: one per fixed component, one per group.
  const unitOfComp = new Array<string>(nc).fill('');
  const moduleNames = (c: number): string[] => comps[c]!.filter(isModule).map((v) => g.nodes[v]!.slice(7)).sort(cmp);
  const used = new Set<string>();
  const pending: Array<{ comps: number[]; kind: Unit['kind']; name?: string }> = [];
  for (let c = 0; c < nc; c++) {
    if (!fixed[c]) continue;
    const names = moduleNames(c);
    let name = names.join('.');
    if (name.length > MAX_NAME) name = `${names[0]}.and-${names.length - 1}-more`;
    used.add(name);
    pending.push({ comps: [c], kind: names.length > 1 || comps[c]!.length > 1 ? 'modules' : 'module', name });
  }
  for (let gi = 0; gi < groups.length; gi++) if (alive[gi] && groups[gi]!.length) pending.push({ comps: groups[gi]!, kind: 'resources' });

  // Temporary names for ordering, then resource units are named in topological order.
  const tmpName = (i: number): string => pending[i]!.name ?? `\u0000${String(i).padStart(8, '0')}`;
  pending.forEach((p, i) => p.comps.forEach((c) => (unitOfComp[c] = tmpName(i))));
  const depsOfTmp = new Map<string, Set<string>>();
  pending.forEach((p, i) => {
    const s = new Set<string>();
    for (const c of p.comps) for (const w of csucc[c]!) if (unitOfComp[w] !== tmpName(i)) s.add(unitOfComp[w]!);
    depsOfTmp.set(tmpName(i), s);
  });
  // The smallest member address of each pending unit, found once.
  const smallest = pending.map((p) => {
    let m: string | undefined;
    for (const c of p.comps) for (const v of comps[c]!) if (m === undefined || cmp(g.nodes[v]!, m) < 0) m = g.nodes[v]!;
    return m!;
  });
  const membersKey = (i: number): string => smallest[i]!;
  // Deterministic order among resource groups: by their smallest member address.
  const tmpSorted = pending.map((_, i) => i).sort((a, b) => {
    const na = pending[a]!.name, nb = pending[b]!.name;
    if (na && nb) return cmp(na, nb);
    if (na) return -1;
    if (nb) return 1;
    return cmp(membersKey(a), membersKey(b));
  });
  const rank = new Map<string, string>();
  tmpSorted.forEach((i, k) => rank.set(tmpName(i), pending[i]!.name ?? `\u0001${String(k).padStart(8, '0')}`));
  const tmpOfRank = new Map([...rank].map(([t, r]) => [r, t]));
  const ordered = topoOrder([...rank.values()], (r) => [...depsOfTmp.get(tmpOfRank.get(r)!)!].map((d) => rank.get(d)!));
  if (!ordered) throw new Error('internal error: unit graph has a cycle'); // guarded by construction
  const finalName = new Map<string, string>();
  const resourceUnits = ordered.filter((r) => r.startsWith('\u0001'));
  let k = 1;
  for (const r of resourceUnits) {
    let name = resourceUnits.length === 1 ? 'root' : `root-${k}`;
    while (used.has(name)) name = `${name}-r`;
    used.add(name);
    finalName.set(r, name);
    k++;
  }
  const nameOfTmp = (t: string): string => { const r = rank.get(t)!; return finalName.get(r) ?? r; };
  const unitOfNode = (addr: string): string => nameOfTmp(unitOfComp[compOf[ids.get(addr)!]!]!);
  const byFinal = new Map<string, Unit>();
  pending.forEach((p, i) => {
    const name = nameOfTmp(tmpName(i));
    byFinal.set(name, {
      name,
      kind: p.kind,
      members: p.comps.flatMap((c) => comps[c]!.map((v) => g.nodes[v]!)).sort(cmp),
      dependsOn: [...depsOfTmp.get(tmpName(i))!].map(nameOfTmp).sort(cmp),
    });
  });
  for (const r of ordered) unitsOut.push(byFinal.get(finalName.get(r) ?? r)!);
  return { execution, units: unitsOut, references: g.edges, outputs: outputsOf(unitOfNode) };
}

/** Topological order of groups over the component DAG (ties by smallest component index). */
function groupTopo(groups: number[][], groupOf: number[], csucc: Set<number>[]): number[] {
  // Rank every component by a topological position of the condensed DAG (dependencies first).
  const n = csucc.length;
  const indeg = new Array<number>(n).fill(0);
  for (let c = 0; c < n; c++) indeg[c] = csucc[c]!.size;
  const pred: number[][] = csucc.map(() => []);
  for (let c = 0; c < n; c++) for (const w of csucc[c]!) pred[w]!.push(c);
  const pos = new Array<number>(n).fill(0);
  const q: number[] = [];
  for (let c = 0; c < n; c++) if (indeg[c] === 0) q.push(c);
  for (let head = 0, p = 0; head < q.length; head++) {
    const c = q[head]!;
    pos[c] = p++;
    for (const d of pred[c]!) if (--indeg[d]! === 0) q.push(d);
  }
  const first = groups.map((g) => g.reduce((m, c) => Math.min(m, pos[c]!), Infinity));
  return groups.map((_, i) => i).filter((i) => groups[i]!.length)
    .sort((a, b) => first[a]! - first[b]! || a - b)
    .filter((i) => groups[i]!.every((c) => groupOf[c] === i));
}

/**
 * An order of the condensed DAG in which every component comes after all of its successors
 * (dependencies first), by Kahn's algorithm: O(V + E).
 */
function condensedTopoOrder(csucc: Set<number>[], cpred: Set<number>[]): number[] {
  const n = csucc.length;
  const left = csucc.map((s) => s.size);
  const order: number[] = [];
  for (let c = 0; c < n; c++) if (left[c] === 0) order.push(c);
  for (let head = 0; head < order.length; head++) {
    for (const d of cpred[order[head]!]!) if (--left[d]! === 0) order.push(d);
  }
  if (order.length !== n) throw new Error('internal error: the condensed graph has a cycle');
  return order;
}

/**
 * For every component, an id of the set of fixed (module) components reachable from it along
 * `adj`, not counting itself: equal ids ⇔ equal sets. `order` lists each component after all of
 * its `adj` neighbours. Sets are bitsets over the fixed components, interned (hash-consed) so that
 * each distinct set is stored once; a component whose neighbours contribute one set and no fixed
 * member shares that set's id without building anything, so chains of resources cost O(1) per
 * component. Work: O(V + E) plus ⌈F / 32⌉ words for each component that makes a new set (F = fixed
 * components), i.e. linear for a fixed number of module calls.
 */
export function fixedReachIds(order: number[], adj: Set<number>[], fixed: boolean[]): number[] {
  const bit = new Array<number>(fixed.length).fill(-1);
  let f = 0;
  for (let c = 0; c < fixed.length; c++) if (fixed[c]) bit[c] = f++;
  const words = Math.ceil(f / 32);
  const sets: Uint32Array[] = [new Uint32Array(words)]; // id 0: the empty set
  const byHash = new Map<number, number[]>([[hashWords(sets[0]!), [0]]]);
  const intern = (s: Uint32Array): number => {
    const h = hashWords(s);
    const same = byHash.get(h);
    if (same) for (const id of same) if (equalWords(sets[id]!, s)) return id;
    sets.push(s);
    if (same) same.push(sets.length - 1); else byHash.set(h, [sets.length - 1]);
    return sets.length - 1;
  };
  const id = new Array<number>(fixed.length).fill(0);
  for (const c of order) {
    let only = -1;
    let many = false;
    let adds = false;
    for (const w of adj[c]!) {
      if (fixed[w]) adds = true;
      if (id[w] === 0 || id[w] === only) continue;
      if (only === -1) only = id[w]!; else many = true;
    }
    if (!adds && !many) { id[c] = only === -1 ? 0 : only; continue; }
    const s = new Uint32Array(words);
    for (const w of adj[c]!) {
      const ws = sets[id[w]!]!;
      if (id[w] !== 0) for (let i = 0; i < words; i++) s[i]! |= ws[i]!;
      if (fixed[w]) s[bit[w]! >>> 5]! |= 1 << (bit[w]! & 31);
    }
    id[c] = intern(s);
  }
  return id;
}

function hashWords(s: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s[i]!, 0x01000193);
  return h >>> 0;
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
