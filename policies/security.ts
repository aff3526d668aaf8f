/**
 * Security rules over a plan in `tofu show -json` form. Pure: no imports beyond types.
 */
import type { ChangeAction, Decision, PlanJson, PlanResourceChange, Policy, SecurityRules } from './types';

/** Terraform's `change.actions` → one action. Replace is ["delete","create"] or ["create","delete"]. */
export function classifyActions(actions: readonly string[]): ChangeAction | undefined {
  const s = new Set(actions);
  if (s.has('delete') && s.has('create')) return 'replace';
  if (actions.length !== 1) return undefined;
  const a = actions[0];
  if (a === 'create' || a === 'update' || a === 'delete' || a === 'read' || a === 'no-op') return a;
  return undefined;
}

/** Validates the parts of a plan the engine reads. Returns an error message, or the plan. */
export function checkPlanShape(plan: unknown): PlanJson | string {
  if (plan === null || typeof plan !== 'object' || Array.isArray(plan)) return 'plan JSON must be an object (output of `tofu show -json <planfile>`)';
  const rc = (plan as { resource_changes?: unknown }).resource_changes;
  if (rc === undefined) return plan as PlanJson;
  if (!Array.isArray(rc)) return 'plan JSON: resource_changes must be an array';
  for (let i = 0; i < rc.length; i++) {
    const r = rc[i] as Partial<PlanResourceChange> | null;
    const where = `plan JSON: resource_changes[${i}]`;
    if (r === null || typeof r !== 'object') return `${where} must be an object`;
    if (typeof r.address !== 'string') return `${where}.address must be a string`;
    if (typeof r.type !== 'string') return `${where} (${r.address}).type must be a string`;
    if (!r.change || typeof r.change !== 'object' || !Array.isArray(r.change.actions) || !r.change.actions.every((a) => typeof a === 'string'))
      return `${where} (${r.address}).change.actions must be an array of strings`;
  }
  return plan as PlanJson;
}

interface Classified {
  rc: PlanResourceChange;
  action: ChangeAction | undefined;
}

function managedChanges(plan: PlanJson): Classified[] {
  return (plan.resource_changes ?? [])
    .filter((rc) => (rc.mode ?? 'managed') === 'managed')
    .map((rc) => ({ rc, action: classifyActions(rc.change.actions) }));
}

function isChange(a: ChangeAction | undefined): boolean {
  return a !== 'no-op' && a !== 'read';
}

const ACTION_WORDS: Record<ChangeAction, string> = {
  create: 'create',
  update: 'update in place',
  delete: 'destroy',
  replace: 'replace (destroy and re-create)',
  read: 'read',
  'no-op': 'leave unchanged',
};

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Follows a dotted path ("versioning.0.enabled") into a value. */
function getPath(v: unknown, path: string[]): unknown {
  let cur = v;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

/** True when `after_unknown` marks the path (or one of its parents) as unknown until apply. */
function isUnknown(afterUnknown: unknown, path: string[]): boolean {
  let cur = afterUnknown;
  for (const seg of path) {
    if (cur === true) return true;
    if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else return false;
  }
  return cur === true;
}

function decision(policy: Policy, rule: Decision['rule'], outcome: Decision['outcome'], message: string, address?: string): Decision {
  const severity = outcome === 'deny' ? 'error' : outcome === 'warn' ? 'warning' : 'info';
  return { policy: policy.name, rule, outcome, severity, message, ...(address !== undefined ? { address } : {}) };
}

/** Evaluates a policy's security rules over a (shape-checked) plan. One allow per passing rule; one deny/warn per offending resource. */
export function evaluateSecurity(policy: Policy, rules: SecurityRules, plan: PlanJson): Decision[] {
  const out: Decision[] = [];
  const changes = managedChanges(plan);

  for (const rule of rules.denyActions) {
    const types = new Set(rule.resourceTypes);
    const acts = new Set(rule.actions);
    const hits = changes.filter((c) => types.has(c.rc.type) && c.action !== undefined && acts.has(c.action));
    for (const h of hits) {
      out.push(
        decision(
          policy,
          'deny_actions',
          'deny',
          `plan would ${ACTION_WORDS[h.action as ChangeAction]} ${h.rc.address}; policy "${policy.name}" forbids ${rule.actions.join('/')} of ${h.rc.type}`,
          h.rc.address,
        ),
      );
    }
    if (hits.length === 0)
      out.push(decision(policy, 'deny_actions', 'allow', `no ${rule.actions.join('/')} of ${rule.resourceTypes.join(', ')}`));
  }

  if (rules.maxChangedResources !== undefined) {
    const changed = changes.filter((c) => isChange(c.action));
    const max = rules.maxChangedResources;
    out.push(
      changed.length > max
        ? decision(policy, 'max_changed_resources', 'deny', `plan changes ${changed.length} resource${changed.length === 1 ? '' : 's'}; policy "${policy.name}" allows at most ${max}`)
        : decision(policy, 'max_changed_resources', 'allow', `plan changes ${changed.length} resource${changed.length === 1 ? '' : 's'} (at most ${max})`),
    );
  }

  for (const rule of rules.requiredTags) {
    const types = new Set(rule.resourceTypes);
    let bad = 0;
    for (const c of changes) {
      if (c.action !== 'create' && c.action !== 'update' && c.action !== 'replace') continue;
      const after = c.rc.change.after;
      const unknown = c.rc.change.after_unknown;
      const hasTagsAttr = isObj(after) && ('tags' in after || 'tags_all' in after);
      const hasUnknownTags = isObj(unknown) && ('tags' in unknown || 'tags_all' in unknown);
      if (types.size > 0 ? !types.has(c.rc.type) : !hasTagsAttr && !hasUnknownTags) continue;
      const missing: string[] = [];
      const unknownTags: string[] = [];
      for (const tag of rule.tags) {
        const present = ['tags', 'tags_all'].some((attr) => {
          const v = getPath(after, [attr, tag]);
          return typeof v === 'string' ? v.trim() !== '' : v !== undefined && v !== null;
        });
        if (present) continue;
        if (isUnknown(unknown, ['tags', tag]) || isUnknown(unknown, ['tags_all', tag])) unknownTags.push(tag);
        else missing.push(tag);
      }
      if (missing.length > 0) {
        bad++;
        out.push(
          decision(policy, 'required_tags', 'deny', `${c.rc.address} is missing required tag${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, c.rc.address),
        );
      } else if (unknownTags.length > 0) {
        out.push(
          decision(policy, 'required_tags', 'warn', `${c.rc.address}: tag${unknownTags.length > 1 ? 's' : ''} ${unknownTags.join(', ')} known only after apply`, c.rc.address),
        );
      }
    }
    if (bad === 0) out.push(decision(policy, 'required_tags', 'allow', `required tags ${rule.tags.join(', ')} present`));
  }

  for (const rule of rules.requiredAttributes) {
    const path = rule.attribute.split('.');
    let bad = 0;
    for (const c of changes) {
      if (c.rc.type !== rule.resourceType) continue;
      if (c.action !== 'create' && c.action !== 'update' && c.action !== 'replace') continue;
      const v = getPath(c.rc.change.after, path);
      const allowed = rule.values.map((x) => JSON.stringify(x)).join(', ');
      if (v === undefined || v === null) {
        if (isUnknown(c.rc.change.after_unknown, path)) {
          out.push(decision(policy, 'required_attributes', 'warn', `${c.rc.address}: ${rule.attribute} is known only after apply (must be one of ${allowed})`, c.rc.address));
        } else {
          bad++;
          out.push(decision(policy, 'required_attributes', 'deny', `${c.rc.address}: ${rule.attribute} is not set; must be one of ${allowed}`, c.rc.address));
        }
      } else if (!rule.values.some((x) => x === v || String(x) === String(v))) {
        bad++;
        out.push(
          decision(policy, 'required_attributes', 'deny', `${c.rc.address}: ${rule.attribute} = ${JSON.stringify(v)}; must be one of ${allowed}`, c.rc.address),
        );
      }
    }
    if (bad === 0) out.push(decision(policy, 'required_attributes', 'allow', `${rule.resourceType}.${rule.attribute} in ${rule.values.map((x) => JSON.stringify(x)).join(', ')}`));
  }

  return out;
}
