/**
 * Gates a push cannot weaken (issue 15), computed inside loadRunContext (no new workflow commands):
 * the account's policies whose selector matches the stack, and the deployed commit's policies, hooks
 * and settings read from git at that commit (the git cache, filled when that commit was pushed). The
 * workflow merges them with the run's own commit's (policies/stricter.ts). Fails closed: a deployed
 * commit whose gates cannot be read makes the run wait for approval.
 */
import { accountPolicyName, selectorMatches, stricterSettings, type DeployedGates, type ExtraGates, type Policy, type PolicySelector, type StricterSettings } from '../policies';
import { resolveStackHooks, resolveStackPolicies } from '../policies/load';
import { parsePolicyFiles } from '../policies/parse';
import { formatPolicyError } from '../policies';
import type { DbOrTx } from '../db';
import { listAccountPolicies } from '../db/repos/account-policies';
import { movedFromPaths } from '../db/repos/events';
import { getFile, listPaths } from '../db/repos/git-cache';
import { parseStackConfig, stackReferenceLines } from './hcl/stack-config';
import type { StackConfig } from '../workflows/model/stack';

export interface RunGatesInput {
  accountId: string;
  stackCodeId: string;
  repoUrl: string;
  repositoryId: string | null;
  stackPath: string;
  state: string;
  /** The run's commit and the registered (pushed) stack.hcl. */
  commit: string;
  config: StackConfig;
  /** The state's deployed commit (for a state never deployed: the commit it was registered with). */
  deployedCommit: string;
  /** Deploy runs compare with the deployed commit; other runs get the account's policies only. */
  compareDeployed: boolean;
  /** Puts the stack directory and policies/ at a commit into the git cache from git (the control worker's mirror), when they are not there. */
  fillCache?: (commit: string, dirs: string[]) => Promise<unknown>;
}

const ZERO_COMMIT = '0'.repeat(40);

export interface RunGates {
  gates: ExtraGates;
  settings: StricterSettings;
}

const stackFileOf = (stackPath: string) => (stackPath === '.' || stackPath === '' ? 'stack.hcl' : `${stackPath}/stack.hcl`);

/** The deployed commit's gates, or why they cannot be read. */
async function deployedGates(db: DbOrTx, input: RunGatesInput): Promise<{ gates: DeployedGates; config: StackConfig } | { unreadable: string }> {
  const commit = input.deployedCommit;
  // The stack's directory at the deployed commit: its directory now, or one it moved from since.
  const paths = [input.stackPath, ...(await movedFromPaths(db, input.stackCodeId)).filter((p) => p !== input.stackPath)];
  const find = async (): Promise<{ path: string; text: Buffer } | undefined> => {
    for (const path of paths) {
      const text = await getFile(db, input.repoUrl, commit, stackFileOf(path));
      if (text) return { path, text };
    }
    return undefined;
  };
  let found = await find();
  if (!found && input.fillCache) {
    // Read from git at that commit (a commit deployed before the cache held it, or a cache cleared since).
    try {
      await input.fillCache(commit, paths);
    } catch (e) {
      return { unreadable: `reading ${stackFileOf(input.stackPath)} at ${commit.slice(0, 12)} from git: ${(e as Error).message}` };
    }
    found = await find();
  }
  if (!found) return { unreadable: `${stackFileOf(input.stackPath)} is not in the git cache at ${commit.slice(0, 12)}` };
  const { path: stackPath, text } = found;
  const stackFile = stackFileOf(stackPath);
  let config: StackConfig;
  let lines: ReturnType<typeof stackReferenceLines>;
  try {
    config = await parseStackConfig(text.toString('utf8'), stackFile);
    lines = stackReferenceLines(text.toString('utf8'), config.name);
  } catch (e) {
    return { unreadable: `${stackFile}: ${(e as Error).message}` };
  }
  const policyPaths = (await listPaths(db, input.repoUrl, commit, 'policies/')).filter((p) => /^policies\/[^/]+\.hcl$/.test(p));
  const files = await Promise.all(policyPaths.map(async (path) => ({ path, text: (await getFile(db, input.repoUrl, commit, path))!.toString('utf8') })));
  const loaded = await parsePolicyFiles(files);
  const policies = resolveStackPolicies(loaded, config.policies, stackFile, lines.policies);
  const hooks = resolveStackHooks(loaded, config.hooks, stackFile, lines.hooks);
  const errors = [...loaded.errors, ...policies.errors, ...hooks.errors];
  if (errors.length) return { unreadable: errors.map(formatPolicyError).join('; ') };
  return { gates: { commit, policies: policies.policies, hooks: hooks.hooks, environment: config.environment ?? input.state }, config };
}

export async function loadRunGates(db: DbOrTx, input: RunGatesInput): Promise<RunGates> {
  const pushed = input.config;
  let deployed: { gates: DeployedGates; config: StackConfig } | undefined;
  let unreadable: string | undefined;
  // The null commit: a state that was never deployed (nothing to compare with, as for a first deploy).
  if (input.compareDeployed && input.deployedCommit && input.deployedCommit !== ZERO_COMMIT && input.deployedCommit !== input.commit) {
    const d = await deployedGates(db, input);
    if ('unreadable' in d) unreadable = d.unreadable;
    else deployed = d;
  }
  const target = {
    environments: [pushed.environment ?? input.state, deployed?.gates.environment],
    state: input.state, repositoryUrl: input.repoUrl, repositoryId: input.repositoryId, stackPath: input.stackPath,
  };
  const account: Policy[] = (await listAccountPolicies(db, input.accountId))
    .filter((r) => selectorMatches(r.selector as PolicySelector, target))
    .map((r) => ({ ...(r.policy as Policy), name: accountPolicyName(r.name) }));
  const settings = stricterSettings(pushed, deployed?.config, input.deployedCommit, unreadable);
  return { gates: { account, ...(deployed ? { deployed: deployed.gates } : {}) }, settings };
}
