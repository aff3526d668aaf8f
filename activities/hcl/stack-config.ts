/**
 * stack.hcl: Raw (hcl2json's JSON) → validated {@link StackConfig} with defaults. Every error names
 * the file, a line (hcl2json gives none for valid syntax, so it is looked up in the source text) and
 * the field path, e.g. `stack.hcl:14: stack.network.drift.schedule: invalid cron expression …`.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { indexLines, lineAtPath } from '../../policies/locate';
import { parseHclFile } from './parse-module';
import { HclError } from './types';
import type { Json, JsonObject } from '../../workflows/model/json';
import type { StackConfig, StackState } from '../../workflows/model/stack';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const names = z.array(z.string().min(1));
const vars = z.record(z.string(), z.json());

/** Cron descriptors a Temporal Schedule understands as croner does. */
const CRON_DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly']);
const cron = z.string().superRefine((s, ctx) => {
  // Five fields only: the drift schedule's cron goes to a Temporal Schedule, which reads a sixth field
  // as the year (croner as seconds), so anything else would not mean what it says.
  const fields = s.trim().split(/\s+/);
  if (!CRON_DESCRIPTORS.has(s.trim()) && fields.length !== 5) {
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${s}": five fields (minute hour day-of-month month day-of-week) or one of ${[...CRON_DESCRIPTORS].join(', ')}` });
    return;
  }
  try {
    new Cron(s, { paused: true });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${s}": ${e instanceof Error ? e.message : String(e)}` });
  }
});

const stackBody = z.strictObject({
  version: z.string().optional(),
  environment: z.string().optional(),
  execution: z.enum(['modules', 'single']).default('modules'),
  auto_deploy: z.boolean().default(false),
  on_delete: z.enum(['loose', 'destroy']).default('loose'),
  parallelism: z.number().int().min(1).max(64).default(4),
  requires: z.strictObject({
    features: names.default([]),
    labels: z.record(z.string(), z.string()).default({}),
  }).optional(),
  variables: vars.default({}),
  state: z.record(z.string().regex(NAME, 'state names must match [A-Za-z0-9][A-Za-z0-9_.-]*'), z.strictObject({ variables: vars.default({}) })).optional(),
  policies: names.default([]),
  hooks: z.strictObject({
    pre_plan: names.default([]), post_plan: names.default([]), pre_apply: names.default([]), post_apply: names.default([]),
    drift_detected: names.default([]),
  }).optional(),
  drift: z.strictObject({ schedule: cron, auto_remediate: z.boolean().default(false) }).optional(),
});

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const BLOCKS = new Set(['requires', 'variables', 'hooks', 'drift']);

/** Parse and validate the text of a stack.hcl file. */
export async function parseStackConfig(text: string, file = 'stack.hcl'): Promise<StackConfig> {
  const raw = await parseHclFile(file, text);
  return validateStackConfig(raw, text, file);
}

/** Validate hcl2json's JSON of a stack.hcl. */
export function validateStackConfig(raw: JsonObject, text: string, file = 'stack.hcl'): StackConfig {
  let lines: ReturnType<typeof indexLines> | undefined;
  const fail = (path: string[], message: string): never => {
    const field = path.join('.');
    const line = lineAtPath((lines ??= indexLines(text)), path);
    throw new HclError('config', `${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${message}`, file, line, field || undefined);
  };
  for (const k of Object.keys(raw)) if (k !== 'stack') fail([k], `unknown block "${k}" (only "stack" is allowed)`);
  const stacks = isObject(raw.stack) ? raw.stack : {};
  const labels = Object.keys(stacks);
  if (labels.length === 0) fail([], 'no stack "<name>" { … } block');
  if (labels.length > 1) fail(['stack', labels[1]!], `only one stack block is allowed (found ${labels.map((l) => `"${l}"`).join(', ')})`);
  const name = labels[0]!;
  if (!NAME.test(name)) fail(['stack', name], 'stack name must match [A-Za-z0-9][A-Za-z0-9_.-]*');
  const bodies = Array.isArray(stacks[name]) ? (stacks[name] as Json[]) : [stacks[name]!];
  if (bodies.length !== 1 || !isObject(bodies[0])) fail(['stack', name], 'stack block declared more than once');
  const base = ['stack', name];

  // Blocks come as arrays of bodies: unwrap the single-instance ones, refuse repeats.
  const body: JsonObject = {};
  for (const [k, v] of Object.entries(bodies[0] as JsonObject)) {
    if (BLOCKS.has(k) && Array.isArray(v)) {
      if (v.length !== 1) fail([...base, k], `block "${k}" declared ${v.length} times`);
      body[k] = v[0]!;
    } else if (k === 'state' && isObject(v)) {
      const states: JsonObject = {};
      for (const [sn, sv] of Object.entries(v)) {
        const list = Array.isArray(sv) ? sv : [sv];
        if (list.length !== 1) fail([...base, 'state', sn], `state "${sn}" declared ${list.length} times`);
        const s = list[0];
        const sb: JsonObject = isObject(s) ? { ...s } : {};
        if (Array.isArray(sb.variables)) {
          if (sb.variables.length !== 1) fail([...base, 'state', sn, 'variables'], 'block "variables" declared more than once');
          sb.variables = sb.variables[0]!;
        }
        states[sn] = sb;
      }
      body[k] = states;
    } else body[k] = v;
  }
  checkNoExpressions(body, base, fail);

  const r = stackBody.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = [...base, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      let at: Json | undefined = body;
      for (const seg of issue.path) at = isObject(at) ? at[String(seg)] : undefined;
      const val = isObject(at) ? at[key] : undefined;
      const isBlock = Array.isArray(val) && val.length > 0 && val.every(isObject);
      fail([...path, key], `unknown ${isBlock ? 'block' : 'field'} "${key}"${issue.keys.length > 1 ? ` (also: ${issue.keys.slice(1).join(', ')})` : ''}`);
    }
    fail(path, issue.message);
  }
  const v = r.data!;
  const states: StackState[] = Object.entries(v.state ?? {}).map(([n, s]) => ({ name: n, variables: s.variables as Record<string, Json> }));
  const cfg: StackConfig = {
    name,
    execution: v.execution,
    autoDeploy: v.auto_deploy,
    onDelete: v.on_delete,
    parallelism: v.parallelism,
    requires: { features: v.requires?.features ?? [], labels: v.requires?.labels ?? {} },
    variables: v.variables as Record<string, Json>,
    states: states.length ? states : [{ name: 'default', variables: {} }],
    policies: v.policies,
    hooks: {
      prePlan: v.hooks?.pre_plan ?? [], postPlan: v.hooks?.post_plan ?? [],
      preApply: v.hooks?.pre_apply ?? [], postApply: v.hooks?.post_apply ?? [],
      ...(v.hooks?.drift_detected?.length ? { driftDetected: v.hooks.drift_detected } : {}),
    },
  };
  if (v.version !== undefined) cfg.version = v.version;
  if (v.environment !== undefined) cfg.environment = v.environment;
  if (v.drift) cfg.drift = { schedule: v.drift.schedule, autoRemediate: v.drift.auto_remediate };
  return cfg;
}

/** stack.hcl holds literal values only: `${…}` means a reference or function call. */
function checkNoExpressions(v: Json, path: string[], fail: (p: string[], m: string) => never): void {
  if (typeof v === 'string') {
    if (/(^|[^$])\$\{/.test(v)) fail(path, `expressions are not allowed in stack.hcl (found ${JSON.stringify(v)})`);
  } else if (Array.isArray(v)) v.forEach((x, i) => checkNoExpressions(x, [...path, String(i)], fail));
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) checkNoExpressions(x, [...path, k], fail);
}

/** The HCL names of a stack's hook events (stack.hcl `hooks { pre_plan = [...] … }`). */
const HOOK_FIELDS = ['pre_plan', 'post_plan', 'pre_apply', 'post_apply', 'drift_detected'] as const;

/**
 * Where stack.hcl names policies and hooks, for errors about a name it gives (a policy or hook that
 * does not exist): the line of `policies`, and per hook event the line of its list (else of the
 * `hooks` block, else of the stack block).
 */
export function stackReferenceLines(text: string, stackName: string): { policies?: number; hooks: Partial<Record<typeof HOOK_FIELDS[number], number>> } {
  const index = indexLines(text);
  const at = (...path: string[]) => lineAtPath(index, ['stack', stackName, ...path]);
  return { policies: at('policies'), hooks: Object.fromEntries(HOOK_FIELDS.map((e) => [e, at('hooks', e)])) };
}
