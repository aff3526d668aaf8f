/**
 * The pure side of the policy engine: safe to import from Temporal workflow code (no Node
 * built-ins, no clock, no randomness). Parsing lives in ./parse (hcl2json) and ./load (file
 * system); import those only from activities and the CLI.
 */
export * from './types';
export { evaluate, summarize, appliesTo, severityOf, type EvaluateInput } from './evaluate';
export { countApprovals, type ApprovalCount, type IgnoredApproval } from './approvals';
export { classifyActions, checkPlanShape } from './security';
export { isWindowOpen, nextWindowOpening, parseTimeRange, parseDays, isValidTimeZone } from './schedule';
export { validatePolicyFile, POLICY_NAME, type ValidatedFile } from './validate';
export { mergeValidated, resolveStackPolicies, type LoadedPolicies, type ResolvedStackPolicies } from './resolve';
export {
  BUILTIN_HOOKS, DEFAULT_HOOK_PRIORITY, DEFAULT_HOOK_TIMEOUT_MS, HOOK_EVENTS, HOOK_TYPES, emptyRunHooks, failureBlocks, hookDeliveryId,
  hooksBudgetMs, isPreEvent, orderHooks, parseDuration, planLimitViolations, resolveStackHooks, runBuiltinHook, webhookBody,
  type ResolvedStackHooks, type RunHooks, type StackHookNames,
} from './hooks';
export { renderDecisionsText, renderErrorsText, renderJson, formatDecision, formatPolicyError } from './render';
export {
  accountPolicyName, deployedName, globToRegExp, sameDefinition, selectorMatches, stricterHooks, stricterPolicies, stricterSettings,
  type DeployedGates, type ExtraGates, type GateSettings, type PolicySelector, type SelectorTarget, type StricterSettings,
} from './stricter';
