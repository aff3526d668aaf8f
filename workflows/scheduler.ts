/**
 * The unit scheduler: pure and deterministic, safe inside the Temporal workflow sandbox (no Node
 * APIs, no clock, no randomness; imports types only). The workflow loop interprets it:
 *
 *   let s = initialState(graph);
 *   while (!isFinished(s)) {
 *     for (const u of readyUnits(graph, s, parallelism)) { s = nextState(s, { type: 'started', unit: u }); start(u); }
 *     const ev = await nextCompletion();            // { type: 'succeeded' | 'failed', unit, reason? }
 *     s = nextState(s, ev, graph);
 *   }
 *
 * A unit is ready the moment all of its dependencies succeeded (not level by level). A failed unit
 * marks every transitive dependant `skipped` with the reason; independent branches go on.
 */

export interface SchedGraph {
  units: ReadonlyArray<{ name: string; dependsOn: readonly string[] }>;
}

export type UnitStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface UnitProgress {
  status: UnitStatus;
  /** Why a unit failed or was skipped. */
  reason?: string;
}

export interface SchedState {
  units: Readonly<Record<string, UnitProgress>>;
}

export type SchedEvent =
  | { type: 'started'; unit: string }
  | { type: 'succeeded'; unit: string }
  | { type: 'failed'; unit: string; reason: string };

export function initialState(graph: SchedGraph): SchedState {
  const units: Record<string, UnitProgress> = {};
  for (const u of graph.units) units[u.name] = { status: 'pending' };
  return { units };
}

/** Units to start now: pending, all dependencies succeeded, within the parallelism limit, in graph order. */
export function readyUnits(graph: SchedGraph, state: SchedState, parallelism: number): string[] {
  const running = Object.values(state.units).filter((p) => p.status === 'running').length;
  const free = Math.max(0, Math.floor(parallelism) - running);
  const out: string[] = [];
  for (const u of graph.units) {
    if (out.length >= free) break;
    if (state.units[u.name]?.status !== 'pending') continue;
    if (u.dependsOn.every((d) => state.units[d]?.status === 'succeeded')) out.push(u.name);
  }
  return out;
}

/**
 * The state after one event; never mutates its inputs. `graph` is needed for `failed` (to skip the
 * dependants); without it only the failed unit changes.
 */
export function nextState(state: SchedState, event: SchedEvent, graph?: SchedGraph): SchedState {
  const cur = state.units[event.unit];
  if (!cur) throw new Error(`scheduler: unknown unit ${event.unit}`);
  const units: Record<string, UnitProgress> = { ...state.units };
  switch (event.type) {
    case 'started':
      if (cur.status !== 'pending') throw new Error(`scheduler: cannot start ${event.unit}: it is ${cur.status}`);
      units[event.unit] = { status: 'running' };
      break;
    case 'succeeded':
      units[event.unit] = { status: 'succeeded' };
      break;
    case 'failed': {
      units[event.unit] = { status: 'failed', reason: event.reason };
      if (graph) {
        for (const d of dependantsOf(graph, event.unit)) {
          const p = units[d];
          if (p && p.status === 'pending') units[d] = { status: 'skipped', reason: `blocked: ${event.unit} failed: ${event.reason}` };
        }
      }
      break;
    }
  }
  return { units };
}

/** Transitive dependants of a unit, in graph order. */
export function dependantsOf(graph: SchedGraph, unit: string): string[] {
  const hit = new Set<string>([unit]);
  let grew = true;
  // Graph order is topological, so one pass suffices; loop anyway for unordered input.
  while (grew) {
    grew = false;
    for (const u of graph.units) {
      if (hit.has(u.name)) continue;
      if (u.dependsOn.some((d) => hit.has(d))) { hit.add(u.name); grew = true; }
    }
  }
  hit.delete(unit);
  return graph.units.map((u) => u.name).filter((n) => hit.has(n));
}

/** True when nothing is pending or running. */
export function isFinished(state: SchedState): boolean {
  return Object.values(state.units).every((p) => p.status !== 'pending' && p.status !== 'running');
}

/** The graph for destroy: every edge reversed, units in reverse order. */
export function reverse<G extends SchedGraph>(graph: G): SchedGraph {
  const dependants = new Map<string, string[]>();
  for (const u of graph.units) dependants.set(u.name, []);
  for (const u of graph.units) for (const d of u.dependsOn) dependants.get(d)?.push(u.name);
  return {
    units: [...graph.units].reverse().map((u) => ({ name: u.name, dependsOn: [...(dependants.get(u.name) ?? [])].sort() })),
  };
}

/** A sequential execution order (graph order filtered to a valid topological order). */
export function executionOrder(graph: SchedGraph): string[] {
  let s = initialState(graph);
  const order: string[] = [];
  for (;;) {
    const next = readyUnits(graph, s, 1);
    if (next.length === 0) break;
    s = nextState(nextState(s, { type: 'started', unit: next[0]! }), { type: 'succeeded', unit: next[0]! });
    order.push(next[0]!);
  }
  if (order.length !== graph.units.length) throw new Error('scheduler: the unit graph has a cycle');
  return order;
}
