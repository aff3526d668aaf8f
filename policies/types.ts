/**
 * Data shapes of the policy engine. Pure: no imports. Safe for Temporal workflow code.
 *
 * A `Policy` is the validated, normalised form of one `policy "NAME" { ... }` block. It is plain
 * JSON-serialisable data, so it can travel as an activity result / workflow input.
 */

/** ISO weekday: 1 = Monday … 7 = Sunday. */
export type IsoWeekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Minutes since local midnight; `end` is exclusive and may be 1440 (= 24:00). start > end crosses midnight. */
export interface TimeRange {
  /** The text as written, e.g. "22-6" or "09:30-17:00". */
  text: string;
  start: number;
  end: number;
}

export interface DeploymentWindow {
  hours: TimeRange[];
  /** Days on which a window *opens* (a range crossing midnight belongs to the day it starts). */
  days: IsoWeekday[];
  /** IANA time zone, default "UTC". */
  timezone: string;
  onViolation: 'queue' | 'reject';
}

export interface ApprovalRule {
  required: boolean;
  minApprovers: number;
  /** Empty = any authenticated user may approve. */
  allowedGroups: string[];
  /** May the author of the push approve their own run? Default false. */
  allowAuthor: boolean;
}

/** Classified action of one resource change (Terraform's `change.actions`). */
export type ChangeAction = 'create' | 'update' | 'delete' | 'replace' | 'read' | 'no-op';

export interface DenyActionsRule {
  resourceTypes: string[];
  /** Default ["delete", "replace"]. "replace" is actions ["delete","create"] or ["create","delete"]. */
  actions: ChangeAction[];
}

export interface RequiredTagsRule {
  /** Empty = every managed resource whose planned values have a `tags`/`tags_all` attribute. */
  resourceTypes: string[];
  tags: string[];
}

export interface RequiredAttributeRule {
  resourceType: string;
  /** Dotted path into `change.after`, e.g. "acl" or "versioning.0.enabled". */
  attribute: string;
  /** Allowed values; compared as JSON scalars (string, number, bool). */
  values: Array<string | number | boolean>;
}

export interface SecurityRules {
  denyActions: DenyActionsRule[];
  maxChangedResources?: number;
  requiredTags: RequiredTagsRule[];
  requiredAttributes: RequiredAttributeRule[];
}

export interface Policy {
  name: string;
  /** Repository-relative path of the file that defines it, e.g. "policies/windows.hcl". */
  file: string;
  line: number;
  description?: string;
  /** Applies only to runs whose stack environment or state name equals this. */
  environment?: string;
  window?: DeploymentWindow;
  approval?: ApprovalRule;
  security?: SecurityRules;
}

/** A problem in a policy file or a stack's policy list. `field` is a dotted path, e.g. "schedule.allowed_hours[1]". */
export interface PolicyError {
  file: string;
  line?: number;
  policy?: string;
  /** The hook the problem is about (a `hook "NAME"` block, or a name a stack.hcl lists). */
  hook?: string;
  field?: string;
  message: string;
}

// ---- hooks ----

/** The run events hooks attach to (stack.hcl `hooks { pre_plan = [...] ... }`). */
export type HookEvent = 'pre_plan' | 'post_plan' | 'pre_apply' | 'post_apply' | 'drift_detected';

/** Plan limits of a `plan_guard` hook: the hook fails when a count of the review plan exceeds one. */
export interface PlanLimits {
  maxAdd?: number;
  maxChange?: number;
  maxDestroy?: number;
  maxReplace?: number;
  /** add + change + destroy + replace. */
  maxTotal?: number;
}

interface HookBase {
  name: string;
  /** Repository-relative file of the `hook` block; "(built-in)" for built-in hooks. */
  file: string;
  line: number;
  description?: string;
  /** Lower runs first; ties keep the order the stack lists them. Default 100. */
  priority: number;
  /** Milliseconds the hook may take. Default 10 000. */
  timeoutMs: number;
  /** A failure at pre_plan/pre_apply is recorded and the run goes on. Default false. */
  continueOnFailure: boolean;
}

/**
 * POST of the run's summary as JSON, signed with HMAC-SHA256. Only *names* of environment
 * variables of the control worker are kept here: the secret (and a secret URL) are read inside the
 * activity that sends the request, so they never reach Temporal history, events or logs.
 */
export interface WebhookHook extends HookBase {
  type: 'webhook';
  /** The URL, when it is not a secret itself. */
  url?: string;
  /** Name of the environment variable holding the URL (for URLs that carry a token). */
  urlEnv?: string;
  /** Name of the environment variable holding the HMAC key. */
  secretEnv: string;
}

export interface PlanGuardHook extends HookBase {
  type: 'plan_guard';
  limits: PlanLimits;
}

export interface RecordHook extends HookBase {
  type: 'record';
  message?: string;
}

export type HookDefinition = WebhookHook | PlanGuardHook | RecordHook;
export type HookType = HookDefinition['type'];

export type Stage = 'pre_plan' | 'post_plan' | 'pre_apply';

export type Outcome = 'allow' | 'deny' | 'warn' | 'queue' | 'require_approval';
export type Severity = 'info' | 'warning' | 'error';

/** Rule identifiers used in decisions. */
export type RuleId =
  | 'environment'
  | 'deployment_window'
  | 'approval'
  | 'deny_actions'
  | 'max_changed_resources'
  | 'required_tags'
  | 'required_attributes'
  | 'plan';

export interface ApprovalStatus {
  minApprovers: number;
  allowedGroups: string[];
  allowAuthor: boolean;
  /** Approvers that counted so far (only when approvals were given in the context). */
  approvedBy: string[];
  rejectedBy?: string;
}

export interface Decision {
  policy: string;
  rule: RuleId;
  outcome: Outcome;
  severity: Severity;
  message: string;
  /** Resource address, for security rules. */
  address?: string;
  /** For `queue`: ISO-8601 UTC instant at which the deployment window next opens. */
  until?: string;
  /** For approval decisions. */
  approval?: ApprovalStatus;
}

export interface Approval {
  approver: string;
  groups: string[];
  decision: 'approve' | 'reject';
}

/** Minimal shape of `tofu show -json <planfile>` that the engine reads. Extra fields are ignored. */
export interface PlanJson {
  format_version?: string;
  resource_changes?: PlanResourceChange[];
}

export interface PlanResourceChange {
  address: string;
  mode?: 'managed' | 'data' | string;
  type: string;
  name?: string;
  change: {
    actions: string[];
    before?: unknown;
    after?: unknown;
    after_unknown?: unknown;
  };
}

export interface EvaluationContext {
  /** Current time: ISO string or epoch milliseconds (in workflows: `Date.now()` of the workflow clock). */
  now: string | number;
  /** stack.hcl `environment`. */
  environment?: string;
  /** Stack state name (e.g. "prod"); policies' `environment` matches either this or `environment`. */
  state?: string;
  /** Plan JSON for post_plan. */
  plan?: unknown;
  /** Approvals/rejections received so far (pre_apply). */
  approvals?: Approval[];
  /** Author(s) of the run: the pusher and commit author, or its starter (cannot approve unless the policy allows it). */
  author?: string | readonly string[];
}

export type Verdict = 'allow' | 'deny' | 'queue' | 'require_approval';

export interface Summary {
  verdict: Verdict;
  /** The decisions that produced the verdict (for allow: empty). */
  reasons: Decision[];
  warnings: Decision[];
  /** For queue: the latest `until` of the queue decisions. Re-evaluate after waking. */
  until?: string;
}

/** Resource counts of the review plan (managed resources), as hooks see them. */
export interface HookPlanCounts {
  add: number;
  change: number;
  destroy: number;
  replace: number;
}

/** What a hook is told about the run. Names and counts only: never variable values, outputs or secrets. */
export interface HookRunContext {
  event: HookEvent;
  /** Temporal workflow id of the run. */
  runId: string;
  kind: string;
  stack: string;
  state: string;
  environment?: string;
  commit: string;
  /** Counts of the review plan; null before the plan (pre_plan). */
  plan: HookPlanCounts | null;
  /** post_apply: how the apply ended (`cancelled` when the run was cancelled while applying). */
  outcome?: 'succeeded' | 'failed' | 'no_changes' | 'cancelled';
  /** Who or what started the run. */
  triggeredBy?: string;
  /** drift_detected: the drifted addresses and the actions that would restore them (never values). */
  drift?: { resources: Array<{ unit: string; address: string; actions: string[] }>; remediationRunId?: string };
}

/** The result of one hook at one event (an activity result; recorded as a hook_completed/hook_failed event). */
export interface HookResult {
  hook: string;
  type: HookType;
  event: HookEvent;
  ok: boolean;
  /** Failed and not continue_on_failure at a pre-event: the run must stop. */
  blocking: boolean;
  message: string;
  durationMs: number;
  /** Webhooks: the HTTP status, when there was a response. */
  status?: number;
  /** Hooks not run because an earlier one at the same event blocked the run. */
  skipped?: boolean;
}
