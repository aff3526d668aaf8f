/**
 * Unit synthesis: for each unit, the files of a generated root module (JSON syntax, `main.tf.json`)
 * that a later activity writes to `<unitsDir>/<unit>/` and runs with tofu.
 *
 * - module blocks call the original source; local sources are re-based relative to the generated
 *   root and must stay inside the repository;
 * - resource and data blocks of resource units are copied;
 * - a reference to a node of another unit keeps its traversal but its address part is replaced by
 *   an input variable: `module.net[0].subnet_ids` → `var.stackly_module_net[0].subnet_ids`. The
 *   producing unit exports the whole object (`output "stackly_module_net" { value = module.net }`),
 *   so indexes, splats and for expressions work unchanged on the consumer side;
 * - root variables the unit reads are re-declared as they were (sensitive stays sensitive); locals
 *   it reads are copied;
 * - provider blocks and terraform.required_providers/required_version are copied (a provider block
 *   whose settings read other nodes only into units that use it, see graph.ts);
 * - the backend: `backend "s3" { key = "<account>/<state-id>/<unit>.tfstate" }`; bucket,
 *   region, endpoint and credentials are given at `init` with `-backend-config`, so no secret is
 *   ever written into generated files. Tests may ask for a local backend instead.
 *
 * Root outputs get a generated root of their own (`_outputs`) with no resources: it declares the
 * inputs its outputs read and re-declares the outputs; applying it yields the stack's outputs.
 */
import { isAbsolute, relative, resolve, sep, posix } from 'node:path';
import type { StackWiring, UnitGraph, UnitWiring, WiringExport, WiringInput } from '../../workflows/graph-types';
import { rewritePathReferences, rewriteReferences, unwrapExpression, type ExprRef, type PathRef } from './expressions';
import { providerUsers, type CallGraph } from './graph';
import { isLocalSource } from './parse-module';
import { stateKey, StateKeyError } from '../../common/state-keys';
import type { Json, JsonObject } from '../../workflows/model/json';
import { HclError, type ModuleStructure, type ProviderDecl, type Ref } from './types';

export type BackendChoice =
  /** `prefix`: the state's key prefix, `<account>/<state-id>/` (common/state-keys.ts). */
  | { type: 's3'; prefix: string }
  | { type: 'local'; /** absolute dir; the state file is <dir>/<unit>.tfstate */ dir: string }
  | { type: 'none' };

export interface SynthesisInput {
  structure: ModuleStructure;
  callGraph: CallGraph;
  units: UnitGraph;
  /** Absolute paths: the repository checkout, the stack's directory in it, and the directory under which `<unit>/` roots are written. */
  repoRoot: string;
  stackRoot: string;
  unitsDir: string;
  backend: BackendChoice;
}

export interface SynthesizedRoot {
  unit: string;
  /** Path relative to unitsDir where the files go. */
  dir: string;
  /** File name → content. */
  files: Record<string, string>;
}

export interface Synthesis {
  units: SynthesizedRoot[];
  /** The root-outputs root (run last; its `tofu output -json` is the stack's outputs). */
  outputs: SynthesizedRoot;
  wiring: StackWiring;
}

export const OUTPUTS_ROOT = '_outputs';

/** State key of one unit: `<account>/<state-id>/<unit>.tfstate` (common/state-keys.ts). */
function unitStateKey(prefix: string, unit: string): string {
  try {
    return stateKey(prefix, unit);
  } catch (e) {
    if (e instanceof StateKeyError) throw new HclError('config', e.message);
    throw e;
  }
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const blocks = (v: Json | undefined): JsonObject[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.filter(isObject) : isObject(v) ? [v] : []);
const isNode = (r: { kind: string }): boolean => r.kind === 'module' || r.kind === 'resource' || r.kind === 'data';

type PathFn = (attr: PathRef['attr']) => string | undefined;

/** Rewrite one template string: references, then `path.*` (the generated root runs elsewhere). */
function rewriteString(v: string, fn: (r: ExprRef) => string | undefined, excluded: string[], pathFn?: PathFn): string {
  const r = rewriteReferences(v, fn, excluded);
  return pathFn ? rewritePathReferences(r, pathFn, excluded) : r;
}

/**
 * Rewrite every template string of a block body, object keys included (`{ (local.k) = … }` is the
 * key `${(local.k)}`); dynamic block iterators are not references.
 */
function rewriteBody(v: Json, fn: (r: ExprRef) => string | undefined, excluded: string[] = [], pathFn?: PathFn): Json {
  if (typeof v === 'string') return rewriteString(v, fn, excluded, pathFn);
  if (Array.isArray(v)) return v.map((x) => rewriteBody(x, fn, excluded, pathFn));
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'dynamic' && isObject(x)) {
      const dyn: JsonObject = {};
      for (const [label, ds] of Object.entries(x)) {
        dyn[label] = blocks(ds).map((d) => {
          const it = typeof d.iterator === 'string' ? unwrapExpression(d.iterator) : label;
          const o: JsonObject = {};
          for (const [dk, dv] of Object.entries(d)) {
            o[dk] = dk === 'iterator' ? unwrapExpression(dv as string) : rewriteBody(dv, fn, dk === 'content' || dk === 'labels' ? [...excluded, it] : excluded, pathFn);
          }
          return o;
        });
      }
      out[k] = dyn;
    } else {
      const key = k.includes('{') ? rewriteString(k, fn, excluded, pathFn) : k;
      out[key] = rewriteBody(x, fn, excluded, pathFn);
    }
  }
  return out;
}

/** Address named by a depends_on entry (`module.a`, `aws_x.y[0]` → `aws_x.y`). */
function dependsTarget(entry: string): string {
  const e = unwrapExpression(entry).replace(/\[[^\]]*\]/g, '');
  const parts = e.split('.');
  return parts[0] === 'data' ? parts.slice(0, 3).join('.') : parts.slice(0, 2).join('.');
}

const toPosix = (p: string): string => p.split(sep).join(posix.sep);

export function synthesize(input: SynthesisInput): Synthesis {
  const { structure: st, callGraph: g, units } = input;
  const unitOf = new Map<string, string>();
  for (const u of units.units) for (const m of u.members) unitOf.set(m, u.name);

  // Which addresses are read from outside their unit (by other units or the root outputs)?
  const readers = new Map<string, Set<string>>(); // address → consumer unit names
  const consumersOfUnit = (unit: string, members: string[]): void => {
    for (const m of members) for (const n of g.uses[m]?.nodes ?? []) {
      if (unitOf.get(n) === unit) continue;
      const s = readers.get(n) ?? new Set<string>();
      s.add(unit);
      readers.set(n, s);
    }
  };
  for (const u of units.units) consumersOfUnit(u.name, u.members);
  consumersOfUnit(OUTPUTS_ROOT, g.outputs);
  // Node-free providers are copied to every unit: their (transitive) node reads would be a problem.
  const localNodes = localResolver(st);
  const providerNodeRefs = (p: ProviderDecl): string[] => resolveRefs(p.refs, localNodes).nodes;
  const users = providerUsers(st);

  const names = new Map<string, string>();
  const taken = new Set(Object.keys(st.variables));
  const varName = (addr: string): string => {
    let n = names.get(addr);
    if (n) return n;
    const base = `stackly_${addr.replace(/[^A-Za-z0-9_]/g, '_')}`;
    n = base;
    for (let i = 2; taken.has(n); i++) n = `${base}_${i}`;
    taken.add(n);
    names.set(addr, n);
    return n;
  };
  for (const a of [...readers.keys()].sort()) varName(a);

  const sensitiveNode = (addr: string): boolean => {
    if (!addr.startsWith('module.')) return false;
    const m = st.modules[addr.slice(7)];
    return (m?.sourceSensitiveOutputs?.length ?? 0) > 0;
  };

  const backendBlock = (unit: string): JsonObject | undefined => {
    const b = input.backend;
    if (b.type === 's3') return { s3: { key: unitStateKey(b.prefix, unit) } };
    if (b.type === 'local') return { local: { path: toPosix(resolve(b.dir, `${unit}.tfstate`)) } };
    return undefined;
  };

  const terraformBlock = (unit: string, withProviders: boolean): JsonObject => {
    const t: JsonObject = {};
    if (st.terraform.requiredVersion) t.required_version = st.terraform.requiredVersion;
    if (withProviders && Object.keys(st.terraform.requiredProviders).length) t.required_providers = st.terraform.requiredProviders;
    const be = backendBlock(unit);
    if (be) t.backend = be;
    return t;
  };

  const variableBlock = (name: string): JsonObject => {
    const v = st.variables[name]!;
    const o: JsonObject = {};
    if (v.description !== undefined) o.description = v.description;
    if (v.type !== undefined) o.type = v.type;
    if (v.hasDefault) o.default = v.default ?? null;
    if (v.sensitive) o.sensitive = true;
    if (v.ephemeral) o.ephemeral = true;
    if (v.nullable !== undefined) o.nullable = v.nullable;
    return o;
  };

  const build = (unit: string, members: string[], isOutputs: boolean): { root: SynthesizedRoot; wiring: UnitWiring } => {
    const memberSet = new Set(members);
    const vars = new Set<string>();
    const locals = new Set<string>();
    const ephemerals = new Set<string>();
    for (const m of members) {
      for (const v of g.uses[m]?.vars ?? []) vars.add(v);
      for (const l of g.uses[m]?.locals ?? []) locals.add(l);
      for (const e of g.uses[m]?.ephemerals ?? []) ephemerals.add(e);
    }

    // Providers: node-free ones everywhere (but not in the outputs root), node-reading ones where used.
    const providers: ProviderDecl[] = [];
    if (!isOutputs) {
      for (const p of st.providers) {
        const key = p.alias ? `${p.name}.${p.alias}` : p.name;
        const nodeRefs = providerNodeRefs(p);
        if (nodeRefs.length === 0 || members.some((m) => users.get(m)?.includes(key))) {
          providers.push(p);
          const r = resolveRefs(p.refs, localNodes);
          r.vars.forEach((v) => vars.add(v));
          r.locals.forEach((l) => locals.add(l));
          r.ephemerals.forEach((e) => ephemerals.add(e));
        }
      }
    }

    // The original root ran in stackRoot; this one runs in <unitsDir>/<unit>.
    let toStack = toPosix(relative(resolve(input.unitsDir, unit), resolve(input.stackRoot))) || '.';
    if (!toStack.startsWith('.') && !isAbsolute(toStack)) toStack = `./${toStack}`;
    const pathFn: PathFn = (attr) => (attr === 'cwd' ? `abspath(${JSON.stringify(toStack)})` : JSON.stringify(toStack));

    const inputs = new Map<string, WiringInput>();
    const fn = (r: ExprRef): string | undefined => {
      if (!isNode(r) || memberSet.has(r.address)) return undefined;
      const from = unitOf.get(r.address);
      if (from === undefined) return undefined;
      const variable = varName(r.address);
      if (!inputs.has(r.address)) inputs.set(r.address, { variable, fromUnit: from, output: variable, address: r.address, sensitive: sensitiveNode(r.address) });
      return `var.${variable}`;
    };
    const keepDepends = (list: Json | undefined): Json[] | undefined => {
      const kept = (Array.isArray(list) ? list : []).filter((e): e is string => typeof e === 'string')
        .map(unwrapExpression).filter((e) => memberSet.has(dependsTarget(e)));
      return kept.length ? kept : undefined;
    };

    const doc: JsonObject = {};
    doc.terraform = terraformBlock(unit, !isOutputs);
    if (providers.length) {
      const prov: JsonObject = {};
      for (const p of providers) {
        const list = (prov[p.name] as Json[] | undefined) ?? [];
        list.push(rewriteBody(p.body, fn, [], pathFn));
        prov[p.name] = list;
      }
      doc.provider = prov;
    }

    const locs: JsonObject = {};
    for (const l of [...locals].sort()) locs[l] = rewriteBody(st.locals[l]!.value, fn, [], pathFn);
    // Ephemeral values cannot cross units: each unit reading one opens its own copy.
    const ephs: Record<string, JsonObject> = {};
    for (const a of [...ephemerals].sort()) {
      const e = st.ephemerals![a]!;
      const plain: JsonObject = {};
      for (const [k, v] of Object.entries(e.body)) if (k !== 'provider' && k !== 'depends_on') plain[k] = v;
      const body = rewriteBody(plain, fn, [], pathFn) as JsonObject;
      if (typeof e.body.provider === 'string') body.provider = unwrapExpression(e.body.provider);
      const d = keepDepends(e.body.depends_on);
      if (d) body.depends_on = d;
      (ephs[e.type] ??= {})[e.name] = body;
    }

    const modules: JsonObject = {};
    const resources: Record<string, JsonObject> = {};
    const datas: Record<string, JsonObject> = {};
    for (const m of members) {
      if (m.startsWith('module.')) {
        const call = st.modules[m.slice(7)]!;
        const body: JsonObject = {};
        for (const [k, v] of Object.entries(call.body)) {
          if (k === 'source') body.source = rebaseSource(call.name, call.file, call.source, input, unit);
          else if (k === 'version') body.version = v;
          else if (k === 'providers') body.providers = call.providers;
          else if (k === 'depends_on') { const d = keepDepends(v); if (d) body.depends_on = d; } else body[k] = rewriteBody(v, fn, [], pathFn);
        }
        modules[call.name] = body;
      } else if (!m.startsWith('output.')) {
        const r = st.resources[m]!;
        const plain: JsonObject = {};
        for (const [k, v] of Object.entries(r.body)) if (k !== 'provider' && k !== 'depends_on' && k !== 'lifecycle') plain[k] = v;
        const body = rewriteBody(plain, fn, [], pathFn) as JsonObject;
        if (r.provider) body.provider = r.provider;
        const d = keepDepends(r.body.depends_on);
        if (d) body.depends_on = d;
        if (r.body.lifecycle !== undefined) body.lifecycle = blocks(r.body.lifecycle).map((b) => lifecycleBody(b, fn, memberSet, pathFn));
        const target = r.mode === 'data' ? datas : resources;
        (target[r.type] ??= {})[r.name] = body;
      }
    }

    // moved/import blocks go with the node they name (a move across units cannot be expressed).
    const refactors: Record<'moved' | 'import', JsonObject[]> = { moved: [], import: [] };
    if (!isOutputs) {
      for (const rb of st.refactors ?? []) {
        if (!memberSet.has(rb.target)) continue;
        const b: JsonObject = {};
        for (const [k, v] of Object.entries(rb.body)) {
          b[k] = (k === 'to' || k === 'from' || k === 'provider') && typeof v === 'string' ? unwrapExpression(v) : rewriteBody(v, fn, [], pathFn);
        }
        refactors[rb.kind].push(b);
      }
    }

    const outs: JsonObject = {};
    const exports: WiringExport[] = [];
    if (isOutputs) {
      for (const o of Object.values(st.outputs)) {
        const body: JsonObject = { value: rewriteBody(o.value, fn, [], pathFn) };
        if (o.description !== undefined) body.description = o.description;
        if (o.sensitive) body.sensitive = true;
        outs[o.name] = body;
      }
    } else {
      for (const m of members) {
        if (!readers.has(m)) continue;
        const output = varName(m);
        // Always sensitive: a whole module/resource object may hold sensitive attributes, and
        // Terraform refuses an output that does without the flag. The runner reads it anyway.
        outs[output] = { value: `\${${m}}`, sensitive: true };
        exports.push({ output, address: m, sensitive: sensitiveNode(m) });
      }
    }

    const variables: JsonObject = {};
    for (const v of [...vars].sort()) variables[v] = variableBlock(v);
    const inputList = [...inputs.values()].sort((a, b) => (a.variable < b.variable ? -1 : 1));

    if (Object.keys(variables).length) doc.variable = variables;
    if (Object.keys(locs).length) doc.locals = locs;
    if (Object.keys(ephs).length) doc.ephemeral = ephs;
    if (Object.keys(datas).length) doc.data = datas;
    if (Object.keys(resources).length) doc.resource = resources;
    if (Object.keys(modules).length) doc.module = modules;
    if (Object.keys(outs).length) doc.output = outs;
    if (refactors.moved.length) doc.moved = refactors.moved;
    if (refactors.import.length) doc.import = refactors.import;

    const files: Record<string, string> = { 'main.tf.json': `${JSON.stringify(doc, null, 2)}\n` };
    if (inputList.length) files[INPUTS_FILE] = inputsFile(inputList);
    return {
      root: { unit, dir: unit, files },
      wiring: { unit, rootVariables: [...vars].sort(), inputs: inputList, exports },
    };
  };

  const built = units.units.map((u) => build(u.name, u.members, false));
  const outRoot = build(units.units.some((u) => u.name === OUTPUTS_ROOT) ? `${OUTPUTS_ROOT}-2` : OUTPUTS_ROOT, g.outputs, true);
  return {
    units: built.map((b) => b.root),
    outputs: outRoot.root,
    wiring: { units: built.map((b) => b.wiring), outputs: outRoot.wiring },
  };
}

/** The generated file declaring a unit's inputs from other units (the runner may rewrite it with {@link typedInputsFile}). */
export const INPUTS_FILE = 'stackly-inputs.tf.json';

/** Input declarations, `type = any` (types are known only once the producers are applied). */
function inputsFile(inputs: WiringInput[], types: Record<string, string> = {}): string {
  const variable: JsonObject = {};
  for (const i of inputs) {
    const v: JsonObject = { type: types[i.variable] ?? 'any' };
    if (i.sensitive) v.sensitive = true;
    variable[i.variable] = v;
  }
  return `${JSON.stringify({ variable }, null, 2)}\n`;
}

/** A type as `tofu output -json` prints it (cty JSON): `"string"`, `["set","string"]`, `["object",{…}]`, … */
export type CtyType = string | [string, unknown, ...unknown[]];

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * cty JSON type → a type constraint. Keeps sets sets and maps maps across units (a JSON value alone
 * turns a set into a tuple, which `for_each` refuses). Objects whose keys are not identifiers (e.g.
 * a for_each module's instances) become `map(T)` when all values share a type, else `any`.
 */
export function ctyTypeConstraint(t: unknown): string {
  if (typeof t === 'string') return t === 'dynamic' ? 'any' : t;
  if (!Array.isArray(t) || typeof t[0] !== 'string') return 'any';
  const [kind, elem] = t as [string, unknown];
  switch (kind) {
    case 'list': case 'set': case 'map':
      return `${kind}(${ctyTypeConstraint(elem)})`;
    case 'tuple':
      return Array.isArray(elem) ? `tuple([${elem.map(ctyTypeConstraint).join(', ')}])` : 'any';
    case 'object': {
      if (!isObject(elem)) return 'any';
      const entries = Object.entries(elem).map(([k, v]) => [k, ctyTypeConstraint(v)] as const);
      if (entries.every(([k]) => IDENT.test(k))) return `object({${entries.map(([k, v]) => `${k} = ${v}`).join(', ')}})`;
      const types = new Set(entries.map(([, v]) => v));
      return types.size === 1 ? `map(${[...types][0]})` : 'any';
    }
    default:
      return 'any';
  }
}

/**
 * The inputs file of a unit with exact types, from its producers' `tofu output -json`
 * (unit → output name → {type}). Write it over {@link INPUTS_FILE} before planning the unit.
 */
export function typedInputsFile(wiring: UnitWiring, produced: Record<string, Record<string, { type?: unknown }>>): string {
  const types: Record<string, string> = {};
  for (const i of wiring.inputs) {
    const t = produced[i.fromUnit]?.[i.output]?.type;
    if (t !== undefined) types[i.variable] = ctyTypeConstraint(t);
  }
  return inputsFile(wiring.inputs, types);
}

function lifecycleBody(b: JsonObject, fn: (r: ExprRef) => string | undefined, members: Set<string>, pathFn: PathFn): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(b)) {
    if (k === 'ignore_changes') out[k] = Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? unwrapExpression(x) : x)) : typeof v === 'string' ? unwrapExpression(v) : v;
    else if (k === 'replace_triggered_by') {
      // Only references inside the same root module can trigger a replacement.
      const kept = (Array.isArray(v) ? v : []).filter((x): x is string => typeof x === 'string').map(unwrapExpression).filter((x) => members.has(dependsTarget(x)));
      if (kept.length) out[k] = kept;
    } else out[k] = rewriteBody(v, fn, [], pathFn);
  }
  return out;
}

/** Re-base a local module source relative to the generated root; refuse sources outside the repository. */
function rebaseSource(name: string, file: string, source: string, input: SynthesisInput, unit: string): string {
  if (!isLocalSource(source)) return source;
  const abs = resolve(input.stackRoot, source);
  const inRepo = relative(resolve(input.repoRoot), abs);
  if (inRepo.startsWith('..') || isAbsolute(inRepo)) {
    throw new HclError('source', `module "${name}" (${file}): source "${source}" resolves outside the repository (${abs} is not under ${resolve(input.repoRoot)})`, file, undefined, `module.${name}.source`);
  }
  let rel = toPosix(relative(resolve(input.unitsDir, unit), abs));
  if (!rel.startsWith('../') && rel !== '..') rel = `./${rel}`;
  return rel;
}

type Resolved = { nodes: string[]; vars: string[]; locals: string[]; ephemerals: string[] };

/** Resolves locals (`name`) and ephemeral blocks (`ephemeral.t.n`) through to what they read. */
function localResolver(st: ModuleStructure): (key: string) => Resolved {
  const memo = new Map<string, Resolved>();
  const refsOf = (key: string): Ref[] => (key.startsWith('ephemeral.') ? st.ephemerals?.[key]?.refs : st.locals[key]?.refs) ?? [];
  const go = (key: string, seen: Set<string>): Resolved => {
    const m = memo.get(key);
    if (m) return m;
    const acc = { nodes: new Set<string>(), vars: new Set<string>(), locals: new Set<string>(), ephemerals: new Set<string>() };
    for (const r of refsOf(key)) {
      if (r.kind === 'var') acc.vars.add(r.address.slice(4));
      else if (r.kind === 'local' || r.kind === 'ephemeral') {
        const n = r.kind === 'local' ? r.address.slice(6) : r.address;
        (r.kind === 'local' ? acc.locals : acc.ephemerals).add(n);
        if (seen.has(n)) continue;
        const sub = go(n, new Set([...seen, n]));
        sub.nodes.forEach((x) => acc.nodes.add(x));
        sub.vars.forEach((x) => acc.vars.add(x));
        sub.locals.forEach((x) => acc.locals.add(x));
        sub.ephemerals.forEach((x) => acc.ephemerals.add(x));
      } else acc.nodes.add(r.address);
    }
    const res = { nodes: [...acc.nodes], vars: [...acc.vars], locals: [...acc.locals], ephemerals: [...acc.ephemerals] };
    memo.set(key, res);
    return res;
  };
  return (key) => go(key, new Set([key]));
}

function resolveRefs(refs: Ref[], local: (key: string) => Resolved): Resolved {
  const nodes = new Set<string>(), vars = new Set<string>(), locals = new Set<string>(), ephemerals = new Set<string>();
  for (const r of refs) {
    if (r.kind === 'var') vars.add(r.address.slice(4));
    else if (r.kind === 'local' || r.kind === 'ephemeral') {
      const n = r.kind === 'local' ? r.address.slice(6) : r.address;
      (r.kind === 'local' ? locals : ephemerals).add(n);
      const s = local(n);
      s.nodes.forEach((x) => nodes.add(x));
      s.vars.forEach((x) => vars.add(x));
      s.locals.forEach((x) => locals.add(x));
      s.ephemerals.forEach((x) => ephemerals.add(x));
    } else nodes.add(r.address);
  }
  return { nodes: [...nodes], vars: [...vars], locals: [...locals], ephemerals: [...ephemerals] };
}
