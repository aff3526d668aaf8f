/**
 * The call-level graph of a root module: nodes are module calls, root resources, data sources
 * and outputs; A → B when A's expressions reference B, with locals resolved through. Variables
 * are inputs, not nodes. Pure code over a parsed {@link ModuleStructure}.
 */
import type { Reference } from '../../workflows/graph-types';
import { HclError, type ModuleStructure, type ProviderDecl, type Ref } from './types';

/** What one node needs: the nodes, root variables and locals it reads (locals transitively). */
export interface NodeUses {
  nodes: string[];
  vars: string[];
  locals: string[];
  /** Ephemeral blocks it reads (directly or through locals), when any: copied into its unit. */
  ephemerals?: string[];
}

export interface CallGraph {
  /** Module calls, resources and data sources (sorted); outputs are listed apart. */
  nodes: string[];
  outputs: string[];
  /** Sorted, deduplicated; self-references of module calls are left out. */
  edges: Reference[];
  /** Per node address (and per `output.NAME`): what it reads. */
  uses: Record<string, NodeUses>;
}

/** Human label of where an address is declared. */
function where(st: ModuleStructure, addr: string): string {
  const d = declOf(st, addr);
  return d ? `${addr} (${d.file}${d.line ? `:${d.line}` : ''})` : addr;
}

function declOf(st: ModuleStructure, addr: string): { file: string; line?: number } | undefined {
  if (addr.startsWith('module.')) return st.modules[addr.slice(7)];
  if (addr.startsWith('ephemeral.')) return st.ephemerals?.[addr];
  if (addr.startsWith('output.')) return st.outputs[addr.slice(7)];
  if (addr.startsWith('local.')) return st.locals[addr.slice(6)];
  return st.resources[addr];
}
const fileOf = (st: ModuleStructure, addr: string): string | undefined => declOf(st, addr)?.file;
const lineOfDecl = (st: ModuleStructure, addr: string): number | undefined => declOf(st, addr)?.line;

/** Provider configuration a resource uses: its `provider` argument, else the type's prefix. */
export function providerOf(r: { type: string; provider?: string }): string {
  if (r.provider) return r.provider;
  const i = r.type.indexOf('_');
  return i < 0 ? r.type : r.type.slice(0, i);
}
const providerKey = (p: ProviderDecl): string => (p.alias ? `${p.name}.${p.alias}` : p.name);

/**
 * Provider configurations whose settings reference nodes (a kubernetes provider configured from
 * `module.eks`), attributed to the resources that use them and the module calls that receive them
 * through `providers = {…}`. Returns address → provider keys.
 */
export function providerUsers(st: ModuleStructure): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const keys = new Set(st.providers.map(providerKey));
  const add = (addr: string, key: string): void => {
    if (!keys.has(key)) return;
    const l = out.get(addr) ?? [];
    if (!l.includes(key)) l.push(key);
    out.set(addr, l);
  };
  for (const r of Object.values(st.resources)) add(r.address, providerOf(r));
  for (const m of Object.values(st.modules)) for (const v of Object.values(m.providers)) add(`module.${m.name}`, v);
  return out;
}

/** Build and validate the call-level graph. Throws {@link HclError} for dangling references. */
export function buildCallGraph(st: ModuleStructure): CallGraph {
  type Acc = { nodes: Set<string>; vars: Set<string>; locals: Set<string>; ephemerals: Set<string> };
  const newAcc = (): Acc => ({ nodes: new Set<string>(), vars: new Set<string>(), locals: new Set<string>(), ephemerals: new Set<string>() });
  // Locals and ephemeral blocks are resolved through into their readers; keys are `local.x` / `ephemeral.t.n`.
  const inlineMemo = new Map<string, Acc>();
  const resolving = new Set<string>();

  const checkNodeRef = (from: string, r: Ref): void => {
    if (r.kind === 'module') {
      const name = r.address.slice(7);
      const m = st.modules[name];
      if (!m) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
      if (r.attr !== undefined && m.sourceOutputs && !m.sourceOutputs.includes(r.attr)) {
        throw new HclError('dangling', `${where(st, from)} references ${r.address}.${r.attr}, but module "${name}" (source ${m.source}) declares no output "${r.attr}"`, fileOf(st, from), lineOfDecl(st, from), from);
      }
    } else if (r.kind === 'resource' || r.kind === 'data') {
      if (!st.resources[r.address]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    } else if (r.kind === 'ephemeral') {
      if (!st.ephemerals?.[r.address]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    } else if (r.kind === 'var') {
      if (!st.variables[r.address.slice(4)]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    } else if (r.kind === 'local') {
      if (!st.locals[r.address.slice(6)]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    }
  };

  const resolveInline = (key: string): Acc => {
    const memo = inlineMemo.get(key);
    if (memo) return memo;
    if (resolving.has(key)) throw new HclError('cycle', `${key} refers to itself through ${[...resolving].join(' → ')}`, declOf(st, key)?.file);
    resolving.add(key);
    const acc = newAcc();
    const refs = key.startsWith('local.') ? st.locals[key.slice(6)]!.refs : st.ephemerals![key]!.refs;
    for (const r of refs) collect(key, r, acc);
    resolving.delete(key);
    inlineMemo.set(key, acc);
    return acc;
  };

  const collect = (from: string, r: Ref, acc: Acc): void => {
    checkNodeRef(from, r);
    if (r.kind === 'var') acc.vars.add(r.address.slice(4));
    else if (r.kind === 'local' || r.kind === 'ephemeral') {
      if (r.kind === 'local') acc.locals.add(r.address.slice(6));
      else acc.ephemerals.add(r.address);
      const sub = resolveInline(r.address);
      for (const x of sub.nodes) acc.nodes.add(x);
      for (const x of sub.vars) acc.vars.add(x);
      for (const x of sub.locals) acc.locals.add(x);
      for (const x of sub.ephemerals) acc.ephemerals.add(x);
    } else acc.nodes.add(r.address);
  };

  const providerRefs = new Map<string, Ref[]>();
  for (const p of st.providers) providerRefs.set(providerKey(p), p.refs);
  const users = providerUsers(st);

  const uses: Record<string, NodeUses> = {};
  const edges = new Map<string, Reference>();
  const visit = (addr: string, refs: Ref[]): void => {
    const acc = newAcc();
    for (const r of refs) collect(addr, r, acc);
    for (const key of users.get(addr) ?? []) for (const r of providerRefs.get(key) ?? []) collect(addr, r, acc);
    acc.nodes.delete(addr.startsWith('module.') ? addr : '');
    uses[addr] = { nodes: [...acc.nodes].sort(), vars: [...acc.vars].sort(), locals: [...acc.locals].sort() };
    if (acc.ephemerals.size) uses[addr]!.ephemerals = [...acc.ephemerals].sort();
    for (const to of acc.nodes) edges.set(`${addr}\u0000${to}`, { from: addr, to });
  };

  const nodes: string[] = [];
  for (const m of Object.values(st.modules)) { nodes.push(`module.${m.name}`); visit(`module.${m.name}`, m.refs); }
  for (const r of Object.values(st.resources)) { nodes.push(r.address); visit(r.address, r.refs); }
  const outputs: string[] = [];
  for (const o of Object.values(st.outputs)) { outputs.push(`output.${o.name}`); visit(`output.${o.name}`, o.refs); }
  // Locals nobody reads must still be valid.
  for (const name of Object.keys(st.locals)) resolveInline(`local.${name}`);
  for (const key of Object.keys(st.ephemerals ?? {})) resolveInline(key);

  return {
    nodes: nodes.sort(),
    outputs: outputs.sort(),
    edges: [...edges.values()].sort((a, b) => (a.from === b.from ? cmp(a.to, b.to) : cmp(a.from, b.from))),
    uses,
  };
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
