/**
 * Gates a push cannot weaken (issue 15): the gates of a run are the stricter of the deployed
 * commit's and the pushed commit's, plus the account's policies. Pure (workflow-safe): the activity
 * that loads the run's context computes the settings and the extra policies, the workflow merges them
 * with the policies and hooks of the run's commit. "Stricter" per setting is defined in README.md
 * ("Gates a push cannot weaken").
 */
import { appliesTo } from './evaluate';
import { HOOK_EVENTS, emptyRunHooks, orderHooks, type RunHooks } from './hooks';
import type { HookDefinition, Policy } from './types';

/** The deployed commit's gates, as the run's context carries them (only when it differs from the run's commit). */
export interface DeployedGates {
  commit: string;
  policies: Policy[];
  hooks: RunHooks;
  /** stack.hcl `environment` at the deployed commit (else the state name). */
  environment: string;
}

/** What a run adds to its own commit's policies and hooks (RunContext.gates). */
export interface ExtraGates {
  /** Account policies whose selector matches the stack (names prefixed `account:`). */
  account: Policy[];
  deployed?: DeployedGates;
}

/** Which stacks an account policy applies to; every given field must match, none given = every stack. */
export interface PolicySelector {
  /** The stack's environment at the pushed or the deployed commit, or its state name. */
  environment?: string;
  /** The repository's URL or id. */
  repository?: string;
  /** Glob over the stack's directory in its repository: `*` within a segment, `**` any depth, `?` one character. */
  path?: string;
}

export interface SelectorTarget {
  environments: readonly (string | undefined)[];
  state: string;
  repositoryUrl: string;
  repositoryId: string | null;
  stackPath: string;
}

/** A path glob as an anchored RegExp. `a/**` matches `a` itself and everything below it. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // `x/**` also matches `x`; `**/y` also matches `y`.
      if (glob[i + 2] === '/') { re += '(?:.*/)?'; i += 2; continue; }
      if (re.endsWith('/') && i + 2 === glob.length) { re = `${re.slice(0, -1)}(?:/.*)?`; i += 1; continue; }
      re += '.*'; i += 1; continue;
    }
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[\\^$.|+()[\]{}]/g, (x) => `\\${x}`);
  }
  return new RegExp(`^${re}$`);
}

const normPath = (p: string) => p.replace(/^\.\/+/, '').replace(/\/+$/, '') || '.';

export function selectorMatches(sel: PolicySelector, t: SelectorTarget): boolean {
  if (sel.environment !== undefined && !t.environments.includes(sel.environment) && sel.environment !== t.state) return false;
  if (sel.repository !== undefined && sel.repository !== t.repositoryUrl && sel.repository !== t.repositoryId) return false;
  if (sel.path !== undefined && !globToRegExp(normPath(sel.path)).test(normPath(t.stackPath))) return false;
  return true;
}

/** The name an account policy has in a run (so that it never clashes with a stack's policy). */
export const accountPolicyName = (name: string) => `account:${name}`;

/** JSON with sorted keys, without the source position (file, line): equal definitions compare equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => k !== 'file' && k !== 'line' && o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export const sameDefinition = (a: Policy | HookDefinition, b: Policy | HookDefinition) => canonical(a) === canonical(b);

/** The name a deployed commit's policy or hook has when the run's commit defines the same name differently. */
export const deployedName = (name: string, commit: string) => `${name}@${commit.slice(0, 12)}`;

/**
 * A policy limited to one environment that applies under the deployed commit's environment (or the
 * state name) applies to the run whatever environment the pushed commit declares: a push cannot move
 * its stack out of a policy's environment in the run that moves it.
 */
function pinned(p: Policy, env: { current?: string; deployed?: string; state?: string }): Policy {
  if (p.environment === undefined || appliesTo(p, { environment: env.current, state: env.state })) return p;
  if (env.deployed !== undefined && appliesTo(p, { environment: env.deployed, state: env.state })) {
    const { environment: _dropped, ...rest } = p;
    return rest;
  }
  return p;
}

/**
 * The policies of a run: the account's, then the run's commit's, then the deployed commit's that the
 * run's commit does not define identically (renamed `name@<commit>` when it defines the name
 * differently). Every policy must pass (windows open, approvals satisfied, no security denial), so
 * the union is at least as strict as either commit alone.
 */
export function stricterPolicies(
  own: readonly Policy[], extra: ExtraGates | undefined, env: { current?: string; state?: string },
): Policy[] {
  if (!extra) return [...own];
  const pin = { current: env.current, deployed: extra.deployed?.environment, state: env.state };
  const out: Policy[] = [];
  const names = new Set<string>();
  const add = (p: Policy) => {
    let name = p.name;
    for (let i = 2; names.has(name); i++) name = `${p.name}#${i}`;
    names.add(name);
    out.push(pinned(name === p.name ? p : { ...p, name }, pin));
  };
  for (const p of extra.account) add(p);
  for (const p of own) add(p);
  const d = extra.deployed;
  if (d) {
    for (const p of d.policies) {
      const mine = own.find((o) => o.name === p.name);
      if (mine && sameDefinition(mine, p)) continue;
      add(mine ? { ...p, name: deployedName(p.name, d.commit) } : p);
    }
  }
  return out;
}

/**
 * The hooks of a run, per event: the deployed commit's and the run's commit's, in priority order
 * (ties: deployed first). A hook both define identically runs once; one defined differently runs in
 * both versions (the deployed one as `name@<commit>`). A push therefore cannot drop a hook, loosen a
 * plan_guard or make a blocking hook `continue_on_failure` in the run that changes it.
 */
export function stricterHooks(own: RunHooks, deployed: DeployedGates | undefined): RunHooks {
  if (!deployed) return own;
  const out = emptyRunHooks();
  for (const e of HOOK_EVENTS) {
    const mine = own[e] ?? [];
    const theirs = deployed.hooks[e] ?? [];
    const fromDeployed = theirs
      .filter((h) => !mine.some((m) => m.name === h.name && sameDefinition(m, h)))
      .map((h) => (mine.some((m) => m.name === h.name) ? { ...h, name: deployedName(h.name, deployed.commit) } : h));
    out[e] = orderHooks([...fromDeployed, ...mine]);
  }
  return out;
}

/** The settings of stack.hcl that gate a run (the fields of StackConfig this module compares). */
export interface GateSettings {
  autoDeploy: boolean;
  requires: { features: readonly string[]; labels: Readonly<Record<string, string>> };
  drift?: { autoRemediate: boolean };
}

export interface StricterSettings {
  /** Auto-deploys only when both commits say so. */
  autoDeploy: boolean;
  /** Remediates drift unasked only when both commits say so. */
  autoRemediate: boolean;
  /** Why the run must wait for approval whatever else says (empty: no such reason). */
  approvalReasons: string[];
}

const sameRequires = (a: GateSettings['requires'], b: GateSettings['requires']) =>
  canonical({ f: [...a.features].sort(), l: a.labels }) === canonical({ f: [...b.features].sort(), l: b.labels });

/**
 * The stricter of two commits' settings. `deployed` undefined: the first deploy (the pushed
 * commit's settings alone). `unreadable`: the deployed commit's settings could not be read, so the
 * run asks for approval.
 */
export function stricterSettings(pushed: GateSettings, deployed: GateSettings | undefined, deployedCommit?: string, unreadable?: string): StricterSettings {
  const at = deployedCommit ? ` (deployed commit ${deployedCommit.slice(0, 12)})` : '';
  if (unreadable !== undefined) {
    return { autoDeploy: false, autoRemediate: false, approvalReasons: [`the gates of the deployed commit${at} could not be read: ${unreadable}`] };
  }
  if (!deployed) return { autoDeploy: pushed.autoDeploy, autoRemediate: pushed.drift?.autoRemediate === true, approvalReasons: [] };
  const approvalReasons: string[] = [];
  if (!sameRequires(pushed.requires, deployed.requires)) approvalReasons.push(`this push changes the stack's requires${at}`);
  return {
    autoDeploy: pushed.autoDeploy && deployed.autoDeploy,
    autoRemediate: pushed.drift?.autoRemediate === true && deployed.drift?.autoRemediate === true,
    approvalReasons,
  };
}
