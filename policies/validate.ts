/**
 * Validates the JSON that `@cdktf/hcl2json` makes of a policy file and turns it into `Policy`
 * values. Pure (no Node, no hcl2json): given the parsed JSON and the source text it is
 * deterministic. Every problem becomes a `PolicyError` with file, line and field path.
 *
 * hcl2json shapes: a block `x { ... }` becomes `x: [{...}]` (an array, one entry per repetition),
 * an attribute `x = {...}` becomes `x: {...}`, and expressions become "${...}" strings.
 */
import { DEFAULT_HOOK_PRIORITY, DEFAULT_HOOK_TIMEOUT_MS, HOOK_ENV_NAME, HOOK_TYPES, parseDuration } from './hooks';
import { indexLines, lineOf, type LineIndex } from './locate';
import { isValidTimeZone, parseDays, parseTimeRange } from './schedule';
import type {
  ApprovalRule,
  ChangeAction,
  DenyActionsRule,
  DeploymentWindow,
  HookDefinition,
  HookType,
  PlanLimits,
  Policy,
  PolicyError,
  RequiredAttributeRule,
  RequiredTagsRule,
  SecurityRules,
  TimeRange,
} from './types';

export const POLICY_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const DENY_ACTIONS: readonly ChangeAction[] = ['create', 'update', 'delete', 'replace'];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function isBlockList(v: unknown): v is Obj[] {
  return Array.isArray(v) && v.every(isObj);
}
/** A block, labelled (`x "a" { }` → {a: [{...}]}) or not. */
function isBlock(v: unknown): boolean {
  return (isBlockList(v) && v.length > 0) || (isObj(v) && Object.keys(v).length > 0 && Object.values(v).every((x) => isBlockList(x) || isBlock(x)));
}
function isExpression(v: string): boolean {
  return /^\$\{[\s\S]*\}$/.test(v);
}

/** Where we are: `key` addresses the line index; `field` is what users see. */
class At {
  constructor(
    readonly key: string,
    readonly field: string,
  ) {}
  attr(name: string): At {
    return new At(`${this.key}.${name}`, this.field ? `${this.field}.${name}` : name);
  }
  block(name: string, i: number, repeatable: boolean): At {
    const f = repeatable ? `${name}[${i}]` : name;
    return new At(`${this.key}.${name}[${i}]`, this.field ? `${this.field}.${f}` : f);
  }
  item(i: number): At {
    return new At(`${this.key}[${i}]`, `${this.field}[${i}]`);
  }
}

class Checker {
  readonly errors: PolicyError[] = [];
  constructor(
    readonly file: string,
    readonly index: LineIndex,
    readonly policy?: string,
    readonly hook?: string,
  ) {}

  error(at: At, message: string): undefined {
    const line = lineOf(this.index, at.key);
    this.errors.push({
      file: this.file,
      ...(line !== undefined ? { line } : {}),
      ...(this.policy !== undefined ? { policy: this.policy } : {}),
      ...(this.hook !== undefined ? { hook: this.hook } : {}),
      ...(at.field ? { field: at.field } : {}),
      message,
    });
    return undefined;
  }

  known(obj: Obj, at: At, allowed: readonly string[], what: string): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const hint = closest(k, allowed);
      this.error(at.attr(k), `unknown ${isBlock(obj[k]) ? 'block' : 'field'} "${k}" in ${what}${hint ? `; did you mean "${hint}"?` : ''} (allowed: ${allowed.join(', ')})`);
    }
  }

  str(v: unknown, at: At): string | undefined {
    if (typeof v !== 'string') return this.error(at, `must be a string, got ${describe(v)}`);
    if (isExpression(v)) return this.error(at, `must be a literal string, not the expression ${v}`);
    return v;
  }

  strList(v: unknown, at: At, opts: { nonEmpty?: boolean } = {}): string[] | undefined {
    if (!Array.isArray(v) || (isBlockList(v) && v.length > 0)) return this.error(at, `must be a list of strings, got ${describe(v)}`);
    if (opts.nonEmpty && v.length === 0) return this.error(at, 'must not be empty');
    const out: string[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const s = this.str(x, at.item(i));
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }

  bool(v: unknown, at: At): boolean | undefined {
    if (typeof v !== 'boolean') return this.error(at, `must be true or false, got ${describe(v)}`);
    return v;
  }

  int(v: unknown, at: At, min: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.error(at, `must be a whole number, got ${describe(v)}`);
    if (v < min) return this.error(at, `must be at least ${min}, got ${v}`);
    return v;
  }

  /** A block that may appear once. Returns its body, or undefined (absent or erroneous). */
  single(parent: Obj, name: string, at: At): { body: Obj; at: At } | undefined {
    const v = parent[name];
    if (v === undefined) return undefined;
    if (!isBlockList(v) || v.length === 0) return this.error(at.attr(name), `must be a block (${name} { ... }), not an attribute`);
    if (v.length > 1) this.error(at.block(name, 1, true), `only one ${name} block is allowed`);
    return { body: v[0], at: at.block(name, 0, false) };
  }

  /** A repeatable block. */
  repeated(parent: Obj, name: string, at: At): Array<{ body: Obj; at: At }> {
    const v = parent[name];
    if (v === undefined) return [];
    if (!isBlockList(v) || v.length === 0) {
      this.error(at.attr(name), `must be a block (${name} { ... }), not an attribute`);
      return [];
    }
    return v.map((body, i) => ({ body, at: at.block(name, i, true) }));
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (isBlockList(v) && v.length > 0) return 'a block';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return isExpression(v) ? `the expression ${v}` : JSON.stringify(v);
  return `${typeof v} ${JSON.stringify(v)}`;
}

function closest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const o of options) {
    const d = editDistance(word, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length][b.length];
}

export interface ValidatedFile {
  policies: Policy[];
  /** `hook "NAME" { ... }` blocks. */
  hooks: HookDefinition[];
  errors: PolicyError[];
}

/**
 * Validates one parsed policy file. `file` is the name used in errors (repository-relative),
 * `source` the file's text (for line numbers), `json` what hcl2json returned for it.
 */
export function validatePolicyFile(file: string, source: string, json: unknown): ValidatedFile {
  const index = indexLines(source);
  const top = new Checker(file, index);
  const policies: Policy[] = [];
  const errors: PolicyError[] = top.errors;
  if (!isObj(json)) {
    top.error(new At('', ''), 'expected policy blocks');
    return { policies, hooks: [], errors };
  }
  for (const k of Object.keys(json)) {
    if (k !== 'policy' && k !== 'hook') top.error(new At(k, k), `unknown top-level ${isBlock(json[k]) ? 'block' : 'field'} "${k}"; a policy file holds only policy "NAME" { ... } and hook "NAME" { ... } blocks`);
  }
  const hooks = validateHookBlocks(file, index, json.hook, errors);
  const blocks = json.policy;
  if (blocks === undefined) return { policies, hooks, errors };
  if (!isObj(blocks)) {
    top.error(new At('policy', 'policy'), 'policy must be a labelled block: policy "NAME" { ... }');
    return { policies, hooks, errors };
  }
  for (const [name, bodies] of Object.entries(blocks)) {
    const c = new Checker(file, index, name);
    const at = new At(`policy.${name}[0]`, '');
    if (!POLICY_NAME.test(name)) {
      c.error(at, `policy name "${name}" must start with a letter or _ and contain only letters, digits, _ and -`);
      errors.push(...c.errors);
      continue;
    }
    if (!isBlockList(bodies) || bodies.length === 0) {
      c.error(at, `policy "${name}" must be a block with a single label: policy "${name}" { ... }`);
      errors.push(...c.errors);
      continue;
    }
    if (bodies.length > 1) {
      const first = index.get(`policy.${name}[0]`);
      c.error(new At(`policy.${name}[1]`, ''), `policy "${name}" is defined twice in ${file}${first !== undefined ? ` (first at line ${first})` : ''}`);
    }
    const body = bodies[0];
    if (!isObj(body)) continue;
    const policy = validatePolicyBody(c, name, body, at);
    errors.push(...c.errors);
    if (policy && c.errors.length === 0) {
      policies.push({ ...policy, file, line: index.get(`policy.${name}[0]`) ?? 1 });
    }
  }
  return { policies, hooks, errors };
}

const HOOK_COMMON = ['type', 'description', 'priority', 'timeout', 'continue_on_failure'] as const;
const HOOK_FIELDS: Record<HookType, readonly string[]> = {
  webhook: ['url', 'url_env', 'secret_env'],
  plan_guard: ['max_add', 'max_change', 'max_destroy', 'max_replace', 'max_total'],
  record: ['message'],
};

/** `hook "NAME" { type = "webhook" | "plan_guard" | "record" ... }` blocks of one file. */
function validateHookBlocks(file: string, index: LineIndex, blocks: unknown, errors: PolicyError[]): HookDefinition[] {
  const hooks: HookDefinition[] = [];
  if (blocks === undefined) return hooks;
  if (!isObj(blocks)) {
    const c = new Checker(file, index);
    c.error(new At('hook', 'hook'), 'hook must be a labelled block: hook "NAME" { ... }');
    errors.push(...c.errors);
    return hooks;
  }
  for (const [name, bodies] of Object.entries(blocks)) {
    const c = new Checker(file, index, undefined, name);
    const at = new At(`hook.${name}[0]`, '');
    if (!POLICY_NAME.test(name)) {
      c.error(at, `hook name "${name}" must start with a letter or _ and contain only letters, digits, _ and -`);
      errors.push(...c.errors);
      continue;
    }
    if (!isBlockList(bodies) || bodies.length === 0) {
      c.error(at, `hook "${name}" must be a block with a single label: hook "${name}" { ... }`);
      errors.push(...c.errors);
      continue;
    }
    if (bodies.length > 1) {
      const first = index.get(`hook.${name}[0]`);
      c.error(new At(`hook.${name}[1]`, ''), `hook "${name}" is defined twice in ${file}${first !== undefined ? ` (first at line ${first})` : ''}`);
    }
    const hook = validateHookBody(c, name, bodies[0], at);
    errors.push(...c.errors);
    if (hook && c.errors.length === 0) hooks.push({ ...hook, file, line: index.get(`hook.${name}[0]`) ?? 1 } as HookDefinition);
  }
  return hooks;
}

/** A hook definition before its file and line are known (distributes over the union). */
type HookBody = HookDefinition extends infer H ? (H extends HookDefinition ? Omit<H, 'file' | 'line'> : never) : never;

function validateHookBody(c: Checker, name: string, body: Obj, at: At): HookBody | undefined {
  const before = c.errors.length;
  let type: HookType | undefined;
  if (body.type === undefined) c.error(at.attr('type'), `is required: ${HOOK_TYPES.map((t) => `"${t}"`).join(', ')}`);
  else {
    const t = c.str(body.type, at.attr('type'));
    if (t !== undefined && (HOOK_TYPES as readonly string[]).includes(t)) type = t as HookType;
    else if (t !== undefined) {
      const hint = closest(t, HOOK_TYPES);
      c.error(at.attr('type'), `unknown hook type "${t}"${hint ? `; did you mean "${hint}"?` : ''} (allowed: ${HOOK_TYPES.join(', ')})`);
    }
  }
  // Unknown fields: against the fields of the declared type (or of every type when the type is bad).
  const specific = type ? HOOK_FIELDS[type] : Object.values(HOOK_FIELDS).flat();
  for (const k of Object.keys(body)) {
    if ((HOOK_COMMON as readonly string[]).includes(k) || specific.includes(k)) continue;
    const owner = (Object.keys(HOOK_FIELDS) as HookType[]).find((t) => HOOK_FIELDS[t].includes(k));
    if (owner && type) c.error(at.attr(k), `field "${k}" belongs to hooks of type "${owner}", not "${type}"`);
    else c.known({ [k]: body[k] }, at, [...HOOK_COMMON, ...specific], `hook "${name}"`);
  }

  let description: string | undefined;
  if (body.description !== undefined) description = c.str(body.description, at.attr('description'));
  const priority = body.priority === undefined ? DEFAULT_HOOK_PRIORITY : c.int(body.priority, at.attr('priority'), 0);
  let timeoutMs: number | undefined = DEFAULT_HOOK_TIMEOUT_MS;
  if (body.timeout !== undefined) {
    const s = c.str(body.timeout, at.attr('timeout'));
    const d = s === undefined ? undefined : parseDuration(s);
    if (typeof d === 'string') c.error(at.attr('timeout'), d);
    timeoutMs = typeof d === 'number' ? d : undefined;
  }
  const continueOnFailure = body.continue_on_failure === undefined ? false : c.bool(body.continue_on_failure, at.attr('continue_on_failure'));
  if (type === undefined) return undefined;
  // Go on with the type's own fields even when a common one is bad: every problem is reported at once.
  const base = { name, ...(description !== undefined ? { description } : {}), priority: priority ?? 0, timeoutMs: timeoutMs ?? 0, continueOnFailure: continueOnFailure ?? false };

  if (type === 'webhook') {
    const envName = (field: string): string | undefined => {
      const v = c.str(body[field], at.attr(field));
      if (v === undefined) return undefined;
      if (!HOOK_ENV_NAME.test(v)) return c.error(at.attr(field), `must name an environment variable of the control worker matching STACKLY_HOOK_[A-Z0-9_]+ (the value itself never goes in the repository), got "${v}"`);
      return v;
    };
    let url: string | undefined;
    let urlEnv: string | undefined;
    if (body.url !== undefined && body.url_env !== undefined) c.error(at.attr('url_env'), 'set either url or url_env, not both');
    else if (body.url === undefined && body.url_env === undefined) c.error(at.attr('url'), 'is required (or url_env, the name of an environment variable holding the URL)');
    else if (body.url !== undefined) {
      const s = c.str(body.url, at.attr('url'));
      if (s !== undefined) {
        const problem = urlProblem(s);
        if (problem) c.error(at.attr('url'), problem);
        else url = s;
      }
    } else urlEnv = envName('url_env');
    const secretEnv = body.secret_env === undefined
      ? c.error(at.attr('secret_env'), 'is required: the name of the environment variable of the control worker that holds the HMAC key, e.g. "STACKLY_HOOK_SECRET_SLACK"')
      : envName('secret_env');
    if (c.errors.length > before || secretEnv === undefined) return undefined;
    return { ...base, type, ...(url !== undefined ? { url } : {}), ...(urlEnv !== undefined ? { urlEnv } : {}), secretEnv };
  }
  if (type === 'plan_guard') {
    const limits: PlanLimits = {};
    const keys: Array<[string, keyof PlanLimits]> = [['max_add', 'maxAdd'], ['max_change', 'maxChange'], ['max_destroy', 'maxDestroy'], ['max_replace', 'maxReplace'], ['max_total', 'maxTotal']];
    for (const [field, key] of keys) {
      if (body[field] === undefined) continue;
      const n = c.int(body[field], at.attr(field), 0);
      if (n !== undefined) limits[key] = n;
    }
    if (c.errors.length === before && Object.keys(limits).length === 0) c.error(at, `plan_guard hook "${name}" has no limits; set max_add, max_change, max_destroy, max_replace or max_total`);
    if (c.errors.length > before) return undefined;
    return { ...base, type, limits };
  }
  let message: string | undefined;
  if (body.message !== undefined) message = c.str(body.message, at.attr('message'));
  if (c.errors.length > before) return undefined;
  return { ...base, type, ...(message !== undefined ? { message } : {}) };
}

/** Why a webhook URL is refused, or undefined. Credentials in the URL would end up in history and events. */
function urlProblem(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `"${s}" is not a URL`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `must be an http(s) URL, got "${u.protocol}"`;
  if (u.username || u.password) return 'must not carry credentials; sign with secret_env, or keep a secret URL in an environment variable named by url_env';
  return undefined;
}

const POLICY_FIELDS = ['description', 'environment', 'schedule', 'action', 'approval', 'security'] as const;

function validatePolicyBody(c: Checker, name: string, body: Obj, at: At): Omit<Policy, 'file' | 'line'> | undefined {
  c.known(body, at, POLICY_FIELDS, `policy "${name}"`);
  const policy: Omit<Policy, 'file' | 'line'> = { name };
  if (body.description !== undefined) {
    const s = c.str(body.description, at.attr('description'));
    if (s !== undefined) policy.description = s;
  }
  if (body.environment !== undefined) {
    const s = c.str(body.environment, at.attr('environment'));
    if (s !== undefined) {
      if (s.trim() === '') c.error(at.attr('environment'), 'must not be empty');
      else policy.environment = s;
    }
  }

  const schedule = c.single(body, 'schedule', at);
  const action = c.single(body, 'action', at);
  if (schedule) {
    const w = validateSchedule(c, schedule.body, schedule.at, action);
    if (w) policy.window = w;
  } else if (action && body.schedule === undefined) {
    c.error(action.at, 'an action block needs a schedule block in the same policy');
  }

  const approval = c.single(body, 'approval', at);
  if (approval) {
    const a = validateApproval(c, approval.body, approval.at);
    if (a) policy.approval = a;
  }

  const security = c.single(body, 'security', at);
  if (security) {
    const s = validateSecurity(c, security.body, security.at);
    if (s) policy.security = s;
  }

  if (body.schedule === undefined && body.approval === undefined && body.security === undefined) {
    c.error(at, `policy "${name}" has no rules; add a schedule, approval or security block`);
  }
  return policy;
}

function validateSchedule(c: Checker, body: Obj, at: At, action: { body: Obj; at: At } | undefined): DeploymentWindow | undefined {
  c.known(body, at, ['allowed_hours', 'allowed_days', 'timezone'], 'schedule');
  let ok = true;
  const hours: TimeRange[] = [];
  if (body.allowed_hours === undefined) {
    c.error(at.attr('allowed_hours'), 'is required, e.g. allowed_hours = ["9-17"]');
    ok = false;
  } else {
    const list = c.strList(body.allowed_hours, at.attr('allowed_hours'), { nonEmpty: true });
    if (!list) ok = false;
    list?.forEach((s, i) => {
      const r = parseTimeRange(s);
      if (typeof r === 'string') {
        c.error(at.attr('allowed_hours').item(i), r);
        ok = false;
      } else hours.push(r);
    });
  }
  let days: DeploymentWindow['days'] = [1, 2, 3, 4, 5, 6, 7];
  if (body.allowed_days !== undefined) {
    const list = c.strList(body.allowed_days, at.attr('allowed_days'), { nonEmpty: true });
    if (!list) ok = false;
    else {
      for (let i = 0; i < list.length; i++) {
        const r = parseDays([list[i]]);
        if (typeof r === 'string') {
          c.error(at.attr('allowed_days').item(i), r);
          ok = false;
        }
      }
      const all = parseDays(list);
      if (typeof all !== 'string') days = all;
    }
  }
  let timezone = 'UTC';
  if (body.timezone !== undefined) {
    const tz = c.str(body.timezone, at.attr('timezone'));
    if (tz === undefined) ok = false;
    else if (!isValidTimeZone(tz)) {
      c.error(at.attr('timezone'), `unknown time zone "${tz}"; use an IANA name such as "Europe/Berlin" or "UTC"`);
      ok = false;
    } else timezone = tz;
  }
  let onViolation: DeploymentWindow['onViolation'] = 'queue';
  if (action) {
    c.known(action.body, action.at, ['on_violation'], 'action');
    const v = action.body.on_violation;
    if (v === undefined) c.error(action.at.attr('on_violation'), 'is required: "queue" or "reject"');
    else {
      const s = c.str(v, action.at.attr('on_violation'));
      if (s === 'queue' || s === 'reject') onViolation = s;
      else if (s !== undefined) c.error(action.at.attr('on_violation'), `must be "queue" or "reject", got "${s}"`);
    }
  }
  return ok ? { hours, days, timezone, onViolation } : undefined;
}

function validateApproval(c: Checker, body: Obj, at: At): ApprovalRule | undefined {
  c.known(body, at, ['required', 'min_approvers', 'allowed_groups', 'allow_author'], 'approval');
  const required = body.required === undefined ? true : c.bool(body.required, at.attr('required'));
  const minApprovers = body.min_approvers === undefined ? 1 : c.int(body.min_approvers, at.attr('min_approvers'), 1);
  const allowedGroups = body.allowed_groups === undefined ? [] : c.strList(body.allowed_groups, at.attr('allowed_groups'));
  const allowAuthor = body.allow_author === undefined ? false : c.bool(body.allow_author, at.attr('allow_author'));
  if (required === undefined || minApprovers === undefined || allowedGroups === undefined || allowAuthor === undefined) return undefined;
  return { required, minApprovers, allowedGroups, allowAuthor };
}

function validateSecurity(c: Checker, body: Obj, at: At): SecurityRules | undefined {
  c.known(body, at, ['deny_actions', 'max_changed_resources', 'required_tags', 'required_attributes'], 'security');
  const rules: SecurityRules = { denyActions: [], requiredTags: [], requiredAttributes: [] };
  const before = c.errors.length;

  for (const b of c.repeated(body, 'deny_actions', at)) {
    c.known(b.body, b.at, ['resource_types', 'actions'], 'deny_actions');
    const types = b.body.resource_types === undefined ? c.error(b.at.attr('resource_types'), 'is required, e.g. ["aws_db_instance"]') : c.strList(b.body.resource_types, b.at.attr('resource_types'), { nonEmpty: true });
    let actions: ChangeAction[] | undefined = ['delete', 'replace'];
    if (b.body.actions !== undefined) {
      const list = c.strList(b.body.actions, b.at.attr('actions'), { nonEmpty: true });
      actions = list ? [] : undefined;
      list?.forEach((s, i) => {
        if ((DENY_ACTIONS as readonly string[]).includes(s)) actions?.push(s as ChangeAction);
        else {
          c.error(b.at.attr('actions').item(i), `unknown action "${s}"; use ${DENY_ACTIONS.map((x) => `"${x}"`).join(', ')}`);
          actions = undefined;
        }
      });
    }
    if (types && actions) rules.denyActions.push({ resourceTypes: types, actions } satisfies DenyActionsRule);
  }

  if (body.max_changed_resources !== undefined) {
    const n = c.int(body.max_changed_resources, at.attr('max_changed_resources'), 0);
    if (n !== undefined) rules.maxChangedResources = n;
  }

  for (const b of c.repeated(body, 'required_tags', at)) {
    c.known(b.body, b.at, ['resource_types', 'tags'], 'required_tags');
    const types = b.body.resource_types === undefined ? [] : c.strList(b.body.resource_types, b.at.attr('resource_types'), { nonEmpty: true });
    const tags = b.body.tags === undefined ? c.error(b.at.attr('tags'), 'is required, e.g. ["owner"]') : c.strList(b.body.tags, b.at.attr('tags'), { nonEmpty: true });
    if (types && tags) rules.requiredTags.push({ resourceTypes: types, tags } satisfies RequiredTagsRule);
  }

  for (const b of c.repeated(body, 'required_attributes', at)) {
    c.known(b.body, b.at, ['resource_type', 'attribute', 'values'], 'required_attributes');
    const type = b.body.resource_type === undefined ? c.error(b.at.attr('resource_type'), 'is required') : c.str(b.body.resource_type, b.at.attr('resource_type'));
    const attribute = b.body.attribute === undefined ? c.error(b.at.attr('attribute'), 'is required') : c.str(b.body.attribute, b.at.attr('attribute'));
    let values: RequiredAttributeRule['values'] | undefined;
    const v = b.body.values;
    if (v === undefined) c.error(b.at.attr('values'), 'is required: the allowed values, e.g. ["private"]');
    else if (!Array.isArray(v) || v.length === 0) c.error(b.at.attr('values'), `must be a non-empty list, got ${describe(v)}`);
    else {
      values = [];
      v.forEach((x, i) => {
        if (typeof x === 'number' || typeof x === 'boolean' || (typeof x === 'string' && !isExpression(x))) values?.push(x);
        else {
          c.error(b.at.attr('values').item(i), `must be a string, number or bool, got ${describe(x)}`);
          values = undefined;
        }
      });
    }
    if (type && attribute && values) rules.requiredAttributes.push({ resourceType: type, attribute, values });
  }

  if (
    c.errors.length === before &&
    rules.denyActions.length === 0 &&
    rules.maxChangedResources === undefined &&
    rules.requiredTags.length === 0 &&
    rules.requiredAttributes.length === 0
  ) {
    c.error(at, 'security block has no rules; add deny_actions, max_changed_resources, required_tags or required_attributes');
  }
  return c.errors.length === before ? rules : undefined;
}
