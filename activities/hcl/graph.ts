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
  const localMemo = new Map<string, { nodes: Set<string>; vars: Set<string>; locals: Set<string> }>();
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
    } else if (r.kind === 'var') {
      if (!st.variables[r.address.slice(4)]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    } else if (r.kind === 'local') {
      if (!st.locals[r.address.slice(6)]) throw new HclError('dangling', `${where(st, from)} references ${r.address}, which is not declared`, fileOf(st, from), lineOfDecl(st, from), from);
    }
  };

  const resolveLocal = (name: string): { nodes: Set<string>; vars: Set<string>; locals: Set<string> } => {
    const memo = localMemo.get(name);
    if (memo) return memo;
    if (resolving.has(name)) throw new HclError('cycle', `local.${name} refers to itself through ${[...resolving].map((l) => `local.${l}`).join(' → ')}`, st.locals[name]?.file);
    resolving.add(name);
    const acc = { nodes: new Set<string>(), vars: new Set<string>(), locals: new Set<string>() };
    for (const r of st.locals[name]!.refs) collect(`local.${name}`, r, acc);
    resolving.delete(name);
    localMemo.set(name, acc);
    return acc;
  };

  const collect = (from: string, r: Ref, acc: { nodes: Set<string>; vars: Set<string>; locals: Set<string> }): void => {
    checkNodeRef(from, r);
    if (r.kind === 'var') acc.vars.add(r.address.slice(4));
    else if (r.kind === 'local') {
      const n = r.address.slice(6);
      acc.locals.add(n);
      const sub = resolveLocal(n);
      for (const x of sub.nodes) acc.nodes.add(x);
      for (const x of sub.vars) acc.vars.add(x);
      for (const x of sub.locals) acc.locals.add(x);
    } else acc.nodes.add(r.address);
  };

  const providerRefs = new Map<string, Ref[]>();
  for (const p of st.providers) providerRefs.set(providerKey(p), p.refs);
  const users = providerUsers(st);

  const uses: Record<string, NodeUses> = {};
  const edges = new Map<string, Reference>();
  const visit = (addr: string, refs: Ref[]): void => {
    const acc = { nodes: new Set<string>(), vars: new Set<string>(), locals: new Set<string>() };
    for (const r of refs) collect(addr, r, acc);
    for (const key of users.get(addr) ?? []) for (const r of providerRefs.get(key) ?? []) collect(addr, r, acc);
    acc.nodes.delete(addr.startsWith('module.') ? addr : '');
    uses[addr] = { nodes: [...acc.nodes].sort(), vars: [...acc.vars].sort(), locals: [...acc.locals].sort() };
    for (const to of acc.nodes) edges.set(`${addr}\u0000${to}`, { from: addr, to });
  };

  const nodes: string[] = [];
  for (const m of Object.values(st.modules)) { nodes.push(`module.${m.name}`); visit(`module.${m.name}`, m.refs); }
  for (const r of Object.values(st.resources)) { nodes.push(r.address); visit(r.address, r.refs); }
  const outputs: string[] = [];
  for (const o of Object.values(st.outputs)) { outputs.push(`output.${o.name}`); visit(`output.${o.name}`, o.refs); }
  // Locals nobody reads must still be valid.
  for (const name of Object.keys(st.locals)) resolveLocal(name);

  return {
    nodes: nodes.sort(),
    outputs: outputs.sort(),
    edges: [...edges.values()].sort((a, b) => (a.from === b.from ? cmp(a.to, b.to) : cmp(a.from, b.from))),
    uses,
  };
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
