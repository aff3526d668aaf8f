/**
 * Root module parser: every `.tf` (through @cdktf/hcl2json) and `.tf.json` (JSON.parse, same
 * shape) file of a directory → a plain-JSON {@link ModuleStructure}.
 */
import { parse as hclParse } from '@cdktf/hcl2json';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { declarationLines } from '../../policies/locate';
import { findReferences, findReferencesInExpression, unwrapExpression, type ExprRef } from './expressions';
import {
  HclError, type LocalDecl, type ModuleCall, type ModuleStructure, type OutputDecl,
  type EphemeralDecl, type ProviderDecl, type Ref, type RefactorBlock, type ResourceDecl, type TerraformSettings, type VariableDecl,
} from './types';
import type { Json, JsonObject } from '../../workflows/model/json';

/** Files of a module: relative file name → content. */
export type ModuleFiles = Record<string, string>;

export interface ParseOptions {
  /**
   * Reads the files of a local module source (path relative to the root module) to learn which
   * outputs it declares; return undefined when it cannot be read. Omit to skip that check.
   */
  readLocalModule?: (source: string) => Promise<ModuleFiles | undefined>;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const blocks = (v: Json | undefined): JsonObject[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.filter(isObject) : isObject(v) ? [v] : []);
const isTfFile = (f: string): boolean => f.endsWith('.tf') || f.endsWith('.tf.json');
export const isLocalSource = (source: string): boolean => source.startsWith('./') || source.startsWith('../') || source === '.' || source === '..';

/** `[bad.tf:2,6-3,1: Invalid expression; …]` → file, line, message. */
export function hclParseError(file: string, err: unknown): HclError {
  const text = err instanceof Error ? err.message : String(err);
  const m = /([^\s[\]]+):(\d+),(\d+)(?:-\d+(?:,\d+)?)?: ([^\]]*)/.exec(text);
  if (m) return new HclError('parse', `${m[1]}:${m[2]}: ${m[4]!.trim()}`, m[1], Number(m[2]));
  return new HclError('parse', `${file}: ${text.replace(/^parse config: /, '')}`, file);
}

/** Parse one file's text into hcl2json's JSON shape. */
export async function parseHclFile(file: string, text: string): Promise<JsonObject> {
  if (file.endsWith('.json')) {
    try {
      const v = JSON.parse(text) as Json;
      if (!isObject(v)) throw new Error('top level must be an object');
      return v;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const pos = /position (\d+)/.exec(msg);
      const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : 1;
      throw new HclError('parse', `${file}:${line}: invalid JSON: ${msg}`, file, line);
    }
  }
  try {
    return (await hclParse(file, text)) as JsonObject;
  } catch (e) {
    throw hclParseError(file, e);
  }
}

/** Read the `.tf`/`.tf.json` files of a directory (not recursive). */
export async function readModuleDir(dir: string): Promise<ModuleFiles> {
  const names = (await readdir(dir)).filter(isTfFile).sort();
  const out: ModuleFiles = {};
  for (const n of names) {
    if ((await stat(join(dir, n))).isFile()) out[n] = await readFile(join(dir, n), 'utf8');
  }
  return out;
}

/** Parse a root module directory from disk (local sources are read relative to it). */
export async function parseModuleDir(dir: string): Promise<ModuleStructure> {
  const files = await readModuleDir(dir);
  return parseModuleFiles(files, {
    readLocalModule: async (source) => {
      const p = isAbsolute(source) ? source : resolve(dir, source);
      try {
        return await readModuleDir(p);
      } catch {
        return undefined;
      }
    },
  });
}

const toRef = (r: ExprRef): Ref => (r.attr === undefined ? { address: r.address, kind: r.kind } : { address: r.address, kind: r.kind, attr: r.attr });

/** Collects references while walking a block body. */
class RefSet {
  private readonly seen = new Map<string, Ref>();
  add(refs: ExprRef[]): void {
    for (const r of refs) {
      const key = `${r.address}|${r.attr ?? ''}`;
      if (!this.seen.has(key)) this.seen.set(key, toRef(r));
    }
  }
  walk(v: Json | undefined, excluded: string[] = [], skip: (key: string, depth: number) => boolean = () => false, depth = 0): void {
    if (typeof v === 'string') this.add(findReferences(v, excluded));
    else if (Array.isArray(v)) for (const x of v) this.walk(x, excluded, skip, depth);
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (skip(k, depth)) continue;
        // An object key can be an expression: `{ (local.k) = … }` and `"${var.k}" = …` arrive as `${…}` keys.
        if (k.includes('{')) this.add(findReferences(k, excluded));
        if (k === 'dynamic' && isObject(x)) {
          // dynamic "label" { for_each = …, iterator = it, content { … it.value … } }
          for (const [label, dyns] of Object.entries(x)) {
            for (const d of blocks(dyns)) {
              const it = typeof d.iterator === 'string' ? unwrapExpression(d.iterator) : label;
              for (const [dk, dv] of Object.entries(d)) {
                if (dk === 'iterator') continue;
                this.walk(dv, dk === 'content' || dk === 'labels' ? [...excluded, it] : excluded, () => false, depth + 1);
              }
            }
          }
          continue;
        }
        if (k === 'lifecycle') {
          for (const b of blocks(x)) for (const [lk, lv] of Object.entries(b)) {
            // replace_triggered_by holds bare addresses in .tf.json (`"aws_x.y"`), `${…}` ones from .tf.
            if (lk === 'replace_triggered_by') this.addAddresses(addressList(lv));
            else if (lk !== 'ignore_changes') this.walk(lv, excluded, () => false, depth + 1);
          }
          continue;
        }
        this.walk(x, excluded, skip, depth + 1);
      }
    }
  }
  addAddresses(list: string[]): void {
    for (const a of list) this.add(findReferencesInExpression(a));
  }
  list(): Ref[] {
    return [...this.seen.values()].sort((a, b) => (a.address + (a.attr ?? '')).localeCompare(b.address + (b.attr ?? '')));
  }
}

const strOf = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** The node an address names: `module.a[0].aws_x.y` → `module.a`, `aws_x.y["k"]` → `aws_x.y`, `data.t.n` → `data.t.n`. */
export function addressNode(address: string): string {
  const parts = unwrapExpression(address).replace(/\[[^\]]*\]/g, '').split('.');
  return parts[0] === 'data' ? parts.slice(0, 3).join('.') : parts.slice(0, 2).join('.');
}
const addressList = (v: Json | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').map(unwrapExpression) : []);

function sortRecord<T>(r: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}

/** Parse the files of a root module. */
export async function parseModuleFiles(files: ModuleFiles, opts: ParseOptions = {}): Promise<ModuleStructure> {
  const names = Object.keys(files).filter(isTfFile).sort();
  const st: ModuleStructure = {
    files: names, variables: {}, outputs: {}, locals: {}, providers: [],
    terraform: { requiredProviders: {} }, modules: {}, resources: {},
  };
  const declaredIn = new Map<string, string>();
  const declare = (key: string, file: string): void => {
    const prev = declaredIn.get(key);
    if (prev !== undefined) throw new HclError('duplicate', `${file}: ${key} is already declared in ${prev}`, file, lineOf(files[file]!, key));
    declaredIn.set(key, file);
  };

  // Override files (`override.tf`, `*_override.tf`, and their .tf.json forms) are merged into the
  // blocks they name after every other file is read, as Terraform does.
  const isOverride = (f: string): boolean => /(^|_)override\.tf(\.json)?$/.test(f.split('/').pop()!);
  const docs: Array<{ file: string; doc: JsonObject }> = [];
  for (const file of names.filter((f) => !isOverride(f))) docs.push({ file, doc: await parseHclFile(file, files[file]!) });
  const overrideTerraform: Array<{ file: string; block: JsonObject }> = [];
  for (const file of names.filter(isOverride)) {
    applyOverride(docs, file, await parseHclFile(file, files[file]!), files[file]!, (block) => overrideTerraform.push({ file, block }));
  }

  const refactors: RefactorBlock[] = [];
  for (const { file, doc } of docs) {
    for (const [kind, v] of Object.entries(doc)) {
      if (kind === '//') continue;
      switch (kind) {
        case 'variable':
          for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
            declare(`var.${name}`, file);
            st.variables[name] = variableDecl(name, file, b);
          }
          break;
        case 'output':
          for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
            declare(`output.${name}`, file);
            const refs = new RefSet();
            refs.walk(b.value);
            refs.walk(b.precondition);
            const dependsOn = addressList(b.depends_on);
            refs.addAddresses(dependsOn);
            const o: OutputDecl = { name, file, sensitive: b.sensitive === true, value: b.value ?? null, dependsOn, refs: refs.list() };
            if (typeof b.description === 'string') o.description = b.description;
            setLine(o, files[file]!, `output.${name}`);
            st.outputs[name] = o;
          }
          break;
        case 'locals':
          for (const b of blocks(v)) for (const [name, value] of Object.entries(b)) {
            if (name === '//') continue;
            declare(`local.${name}`, file);
            const refs = new RefSet();
            refs.walk(value);
            const l: LocalDecl = { name, file, value, refs: refs.list() };
            setLine(l, files[file]!, `local.${name}`);
            st.locals[name] = l;
          }
          break;
        case 'provider':
          for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
            const alias = strOf(b.alias);
            declare(`provider.${name}${alias ? `.${alias}` : ''}`, file);
            const refs = new RefSet();
            refs.walk(b, [], (k, d) => d === 0 && (k === 'alias' || k === 'version'));
            const p: ProviderDecl = { name, file, body: b, refs: refs.list() };
            if (alias) p.alias = alias;
            st.providers.push(p);
          }
          break;
        case 'terraform':
          for (const b of blocks(v)) mergeTerraform(st.terraform, b, file);
          break;
        case 'module':
          for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
            declare(`module.${name}`, file);
            st.modules[name] = setLine(moduleCall(name, file, b, files[file]!), files[file]!, `module.${name}`);
          }
          break;
        case 'resource':
        case 'data':
          for (const [type, byName] of Object.entries(isObject(v) ? v : {})) {
            for (const [name, bs] of Object.entries(isObject(byName) ? byName : {})) for (const b of blocks(bs)) {
              const r = resourceDecl(kind === 'data' ? 'data' : 'managed', type, name, file, b);
              declare(r.address, file);
              st.resources[r.address] = setLine(r, files[file]!, r.address);
            }
          }
          break;
        case 'moved':
        case 'import':
          for (const b of blocks(v)) {
            const to = strOf(b.to);
            if (to !== undefined) refactors.push({ kind, file, body: b, target: addressNode(to) });
          }
          break;
        case 'ephemeral':
          for (const [type, byName] of Object.entries(isObject(v) ? v : {})) {
            for (const [name, bs] of Object.entries(isObject(byName) ? byName : {})) for (const b of blocks(bs)) {
              const r = resourceDecl('managed', type, name, file, b);
              const address = `ephemeral.${type}.${name}`;
              declare(address, file);
              const e: EphemeralDecl = { address, type, name, file, refs: r.refs, body: b };
              const line = lineOf(files[file]!, address);
              if (line !== undefined) e.line = line;
              (st.ephemerals ??= {})[address] = e;
            }
          }
          break;
        default:
          // removed, check: not part of the unit graph (see README).
          break;
      }
    }
  }
  for (const { file, block } of overrideTerraform) mergeTerraform(st.terraform, block, file);
  st.providers.sort((a, b) => `${a.name}.${a.alias ?? ''}`.localeCompare(`${b.name}.${b.alias ?? ''}`));

  if (opts.readLocalModule) {
    const cache = new Map<string, Promise<{ outputs: string[]; sensitive: string[] } | undefined>>();
    for (const m of Object.values(st.modules)) {
      if (!isLocalSource(m.source)) continue;
      let p = cache.get(m.source);
      if (!p) {
        p = readOutputsOf(m.source, opts.readLocalModule);
        cache.set(m.source, p);
      }
      const outs = await p;
      if (outs) { m.sourceOutputs = outs.outputs; m.sourceSensitiveOutputs = outs.sensitive; }
    }
  }
  // An import block reads its id/for_each when its target is planned: those are the target's references.
  for (const r of refactors) {
    if (r.kind !== 'import') continue;
    const decl = r.target.startsWith('module.') ? st.modules[r.target.slice(7)] : st.resources[r.target];
    if (!decl) continue;
    const refs = new RefSet();
    refs.add(decl.refs.map((x) => ({ ...x, start: 0, end: 0 })));
    for (const [k, x] of Object.entries(r.body)) if (k !== 'to' && k !== 'provider') refs.walk(x);
    decl.refs = refs.list();
  }
  if (refactors.length) st.refactors = refactors;
  st.variables = sortRecord(st.variables);
  st.outputs = sortRecord(st.outputs);
  st.locals = sortRecord(st.locals);
  st.modules = sortRecord(st.modules);
  st.resources = sortRecord(st.resources);
  if (st.ephemerals) st.ephemerals = sortRecord(st.ephemerals);
  st.terraform.requiredProviders = sortRecord(st.terraform.requiredProviders);
  return st;
}

/**
 * Merge one override file into the blocks of the other files (Terraform's override rules): each
 * attribute or nested block type of an override block replaces the one of the block with the same
 * type and labels (a provider by name and alias); a resource's `lifecycle` is merged argument by
 * argument; a local replaces the local of that name; `terraform` blocks are merged last by the
 * caller. An override of something that is not declared is an error, as in Terraform.
 */
function applyOverride(docs: Array<{ file: string; doc: JsonObject }>, file: string, over: JsonObject, text: string, terraform: (b: JsonObject) => void): void {
  const missing = (what: string, needle: string): HclError =>
    new HclError('parse', `${file}: ${what} overrides nothing: it is not declared in the other files`, file, lineOf(text, needle));
  const merge = (base: JsonObject, o: JsonObject, resource: boolean): void => {
    for (const [k, v] of Object.entries(o)) {
      if (resource && k === 'lifecycle' && blocks(base.lifecycle).length > 0) {
        const target = blocks(base.lifecycle)[0]!;
        for (const b of blocks(v)) for (const [lk, lv] of Object.entries(b)) target[lk] = lv;
      } else if (k === 'dynamic' && isObject(v) && isObject(base.dynamic)) {
        for (const [label, d] of Object.entries(v)) base.dynamic[label] = d;
      } else base[k] = v;
    }
  };
  const find = (kind: string, labels: string[], match: (b: JsonObject) => boolean = () => true): JsonObject | undefined => {
    for (const { doc } of docs) {
      let v: Json | undefined = doc[kind];
      for (const l of labels) v = isObject(v) ? v[l] : undefined;
      const hit = blocks(v).find(match);
      if (hit) return hit;
    }
    return undefined;
  };
  for (const [kind, v] of Object.entries(over)) {
    switch (kind) {
      case 'terraform':
        for (const b of blocks(v)) terraform(b);
        break;
      case 'locals':
        for (const b of blocks(v)) for (const [name, value] of Object.entries(b)) {
          if (name === '//') continue;
          const base = docs.flatMap(({ doc }) => blocks(doc.locals)).find((l) => name in l);
          if (!base) throw missing(`local.${name}`, `local.${name}`);
          base[name] = value;
        }
        break;
      case 'variable': case 'output': case 'module':
        for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
          const base = find(kind, [name]);
          const addr = `${kind === 'variable' ? 'var' : kind}.${name}`;
          if (!base) throw missing(addr, addr);
          merge(base, b, false);
        }
        break;
      case 'provider':
        for (const [name, bs] of Object.entries(isObject(v) ? v : {})) for (const b of blocks(bs)) {
          const alias = strOf(b.alias);
          const base = find(kind, [name], (p) => strOf(p.alias) === alias);
          if (!base) throw missing(`provider "${name}"${alias ? ` (alias ${alias})` : ''}`, `provider.${name}`);
          merge(base, b, false);
        }
        break;
      case 'resource': case 'data':
        for (const [type, byName] of Object.entries(isObject(v) ? v : {})) {
          for (const [name, bs] of Object.entries(isObject(byName) ? byName : {})) for (const b of blocks(bs)) {
            const base = find(kind, [type, name]);
            const addr = kind === 'data' ? `data.${type}.${name}` : `${type}.${name}`;
            if (!base) throw missing(addr, addr);
            merge(base, b, true);
          }
        }
        break;
      default:
        // moved, import, removed, check, ephemeral, "//": not part of the unit graph.
        break;
    }
  }
}

async function readOutputsOf(source: string, read: (s: string) => Promise<ModuleFiles | undefined>): Promise<{ outputs: string[]; sensitive: string[] } | undefined> {
  const files = await read(source);
  if (!files || Object.keys(files).filter(isTfFile).length === 0) return undefined;
  const outputs: string[] = [];
  const sensitive: string[] = [];
  for (const f of Object.keys(files).filter(isTfFile).sort()) {
    let doc: JsonObject;
    try {
      doc = await parseHclFile(f, files[f]!);
    } catch (e) {
      if (e instanceof HclError) throw new HclError('parse', `module source ${source}: ${e.message}`, `${source}/${e.file ?? f}`, e.line);
      throw e;
    }
    for (const [name, bs] of Object.entries(isObject(doc.output) ? doc.output : {})) {
      outputs.push(name);
      if (blocks(bs).some((b) => b.sensitive === true)) sensitive.push(name);
    }
  }
  return { outputs: outputs.sort(), sensitive: sensitive.sort() };
}

function variableDecl(name: string, file: string, b: JsonObject): VariableDecl {
  const v: VariableDecl = { name, file, hasDefault: 'default' in b, sensitive: b.sensitive === true };
  if (typeof b.type === 'string') v.type = unwrapExpression(b.type);
  if ('default' in b) v.default = b.default ?? null;
  if (typeof b.nullable === 'boolean') v.nullable = b.nullable;
  if (b.ephemeral === true) v.ephemeral = true;
  if (typeof b.description === 'string') v.description = b.description;
  return v;
}

function mergeTerraform(t: TerraformSettings, b: JsonObject, file: string): void {
  if (typeof b.required_version === 'string') t.requiredVersion = b.required_version;
  for (const rp of blocks(b.required_providers)) for (const [k, v] of Object.entries(rp)) t.requiredProviders[k] = v;
  for (const be of blocks(b.backend)) for (const [type, cfgs] of Object.entries(be)) {
    t.backend = { type, config: blocks(cfgs)[0] ?? {}, file };
  }
}

const MODULE_META = new Set(['source', 'version', 'count', 'for_each', 'providers', 'depends_on']);

function moduleCall(name: string, file: string, b: JsonObject, text: string): ModuleCall {
  const source = strOf(b.source);
  if (source === undefined) throw new HclError('parse', `${file}: module "${name}" has no source`, file, lineOf(text, `module.${name}`), `module.${name}.source`);
  const refs = new RefSet();
  const args: JsonObject = {};
  for (const [k, v] of Object.entries(b)) if (!MODULE_META.has(k)) args[k] = v;
  refs.walk(args);
  refs.walk(b.count);
  refs.walk(b.for_each);
  const dependsOn = addressList(b.depends_on);
  refs.addAddresses(dependsOn);
  const providers: Record<string, string> = {};
  for (const p of blocks(b.providers)) for (const [k, v] of Object.entries(p)) if (typeof v === 'string') providers[k] = unwrapExpression(v);
  const m: ModuleCall = { name, file, source, providers, dependsOn, args, refs: refs.list(), body: b };
  if (typeof b.version === 'string') m.version = b.version;
  if (b.count !== undefined) m.count = b.count;
  if (b.for_each !== undefined) m.forEach = b.for_each;
  return m;
}

function resourceDecl(mode: 'managed' | 'data', type: string, name: string, file: string, b: JsonObject): ResourceDecl {
  const refs = new RefSet();
  refs.walk(b, [], (k, d) => d === 0 && (k === 'provider' || k === 'depends_on'));
  const dependsOn = addressList(b.depends_on);
  refs.addAddresses(dependsOn);
  const r: ResourceDecl = {
    address: mode === 'data' ? `data.${type}.${name}` : `${type}.${name}`,
    mode, type, name, file, dependsOn, refs: refs.list(), body: b,
  };
  if (b.count !== undefined) r.count = b.count;
  if (b.for_each !== undefined) r.forEach = b.for_each;
  if (typeof b.provider === 'string') r.provider = unwrapExpression(b.provider);
  return r;
}

// Files are processed one after the other: a one-entry cache is enough.
let cachedText: string | undefined;
let cachedLines: Map<string, number> | undefined;

/**
 * Line of a declaration in a file's text (policies/locate.ts, the HCL locator, reads every
 * declaration of a file in one pass): `var.x`, `local.x`, `module.x`, `aws_x.y`, …; a provider with
 * an alias (`provider.aws.eu`) gives its provider's first block.
 */
function lineOf(text: string, address: string): number | undefined {
  if (cachedText !== text || !cachedLines) {
    cachedLines = declarationLines(text);
    cachedText = text;
  }
  return cachedLines.get(address) ?? (address.startsWith('provider.') ? cachedLines.get(address.split('.').slice(0, 2).join('.')) : undefined);
}

function setLine<T extends { line?: number }>(d: T, text: string, addr: string): T {
  const line = lineOf(text, addr);
  if (line !== undefined) d.line = line;
  return d;
}
