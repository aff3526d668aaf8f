/**
 * Combining per-file results and resolving a stack's `policies = [...]`. Pure: no Node imports.
 */
import type { HookDefinition, Policy, PolicyError } from './types';
import type { ValidatedFile } from './validate';

/** All policies of one repository checkout (one commit): load once, evaluate many. */
export interface LoadedPolicies {
  /** Valid policies by name. */
  policies: Record<string, Policy>;
  /** Valid `hook "NAME"` definitions by name (built-in hooks are not listed; see hooks.ts). */
  hooks: Record<string, HookDefinition>;
  /** Every problem found; a policy or hook with an error is left out of `policies` / `hooks`. */
  errors: PolicyError[];
  /** Repository-relative paths of the policy files read. */
  files: string[];
}

/** Merges validated files (in the order given); a name defined in two files is an error naming both. */
export function mergeValidated(files: Array<{ file: string } & ValidatedFile>): LoadedPolicies {
  const policies: Record<string, Policy> = {};
  const hooks: Record<string, HookDefinition> = {};
  const errors: PolicyError[] = [];
  for (const f of files) {
    errors.push(...f.errors);
    for (const h of f.hooks ?? []) {
      const prev = hooks[h.name];
      if (prev) {
        errors.push({ file: h.file, line: h.line, hook: h.name, message: `hook "${h.name}" is defined in both ${prev.file}:${prev.line} and ${h.file}:${h.line}` });
        continue;
      }
      hooks[h.name] = h;
    }
    for (const p of f.policies) {
      const prev = policies[p.name];
      if (prev) {
        errors.push({
          file: p.file,
          line: p.line,
          policy: p.name,
          message: `policy "${p.name}" is defined in both ${prev.file}:${prev.line} and ${p.file}:${p.line}`,
        });
        continue;
      }
      policies[p.name] = p;
    }
  }
  return { policies, hooks, errors, files: files.map((f) => f.file) };
}

export interface ResolvedStackPolicies {
  policies: Policy[];
  errors: PolicyError[];
}

/**
 * The policies a stack names, in its order. A name that does not exist is an error naming the
 * stack.hcl file and the missing policy. `line` (of the `policies` attribute) is optional.
 */
export function resolveStackPolicies(
  loaded: LoadedPolicies,
  names: readonly string[],
  stackFile: string,
  line?: number,
): ResolvedStackPolicies {
  const policies: Policy[] = [];
  const errors: PolicyError[] = [];
  const seen = new Set<string>();
  const known = Object.keys(loaded.policies).sort();
  for (const name of names) {
    if (seen.has(name)) continue;
    seen.add(name);
    const p = loaded.policies[name];
    if (p) {
      policies.push(p);
      continue;
    }
    const broken = loaded.errors.some((e) => e.policy === name);
    errors.push({
      file: stackFile,
      ...(line !== undefined ? { line } : {}),
      field: 'policies',
      policy: name,
      message: broken
        ? `${stackFile} names policy "${name}", which is invalid (see its errors)`
        : `${stackFile} names policy "${name}", which does not exist in policies/*.hcl${known.length > 0 ? ` (known: ${known.join(', ')})` : ' (no policies defined)'}`,
    });
  }
  return { policies, errors };
}
