/**
 * Parsing policy files with `@cdktf/hcl2json` (WebAssembly). Not for workflow code: call it from
 * an activity or the CLI, and pass the resulting `LoadedPolicies` (plain data) to workflows.
 * No file system access here: files come in as text (from a checkout or the git cache).
 */
import { parse } from '@cdktf/hcl2json';
import { mergeValidated, type LoadedPolicies } from './resolve';
import type { PolicyError } from './types';
import { validatePolicyFile, type ValidatedFile } from './validate';

export interface SourceFile {
  /** Repository-relative path, e.g. "policies/windows.hcl"; used in errors. */
  path: string;
  text: string;
}

/** Turns an hcl2json error ("parse config: [f.hcl:2,7-3,1: Invalid expression; ...]") into PolicyErrors. */
export function hclSyntaxErrors(file: string, err: unknown): PolicyError[] {
  const raw = err instanceof Error ? err.message : String(err);
  const inner = /\[([\s\S]*)\]\s*$/.exec(raw)?.[1] ?? raw;
  const out: PolicyError[] = [];
  const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`${esc}:(\\d+),\\d+(?:-\\d+(?:,\\d+)?)?: `, 'g');
  const hits = [...inner.matchAll(re)];
  hits.forEach((m, i) => {
    const from = (m.index ?? 0) + m[0].length;
    const to = i + 1 < hits.length ? (hits[i + 1].index ?? inner.length) : inner.length;
    const message = inner.slice(from, to).replace(/[,\s]+$/, '');
    out.push({ file, line: Number(m[1]), message: `HCL syntax error: ${message}` });
  });
  if (out.length === 0) out.push({ file, message: `HCL syntax error: ${inner.trim()}` });
  return out;
}

/** Parses one file's text; returns the hcl2json JSON or syntax errors. */
export async function parseHcl(file: string, text: string): Promise<{ json?: unknown; errors: PolicyError[] }> {
  try {
    return { json: await parse(file, text), errors: [] };
  } catch (err) {
    return { errors: hclSyntaxErrors(file, err) };
  }
}

/** Parses and validates policy files (sequentially; hcl2json shares one WebAssembly instance). */
export async function parsePolicyFiles(files: readonly SourceFile[]): Promise<LoadedPolicies> {
  const validated: Array<{ file: string } & ValidatedFile> = [];
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const parsed = await parseHcl(f.path, f.text);
    if (parsed.json === undefined) {
      validated.push({ file: f.path, policies: [], hooks: [], errors: parsed.errors });
      continue;
    }
    validated.push({ file: f.path, ...validatePolicyFile(f.path, f.text, parsed.json) });
  }
  return mergeValidated(validated);
}
