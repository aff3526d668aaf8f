/**
 * `stackly policy check <repo-dir> [--plan plan.json] [--stack DIR] [--environment ENV] [--now ISO] [--json]`
 *
 * Validates a checkout's policy files (`policies/*.hcl`: policy and hook blocks) and every
 * `stack.hcl` in it (syntax, and that the policies and hooks it names exist), then prints each
 * stack's hooks in execution order and the policy decisions: `pre_plan` for every stack, and
 * `post_plan` security rules over the plan JSON when `--plan` is given. For a repository's CI.
 * Exit code: 0 all pass, 1 a policy or stack file is invalid or a decision denies, 2 usage error.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseStackConfig, stackReferenceLines } from '../activities/hcl/stack-config';
import { evaluate, summarize } from '../policies/evaluate';
import { HOOK_EVENTS, resolveStackHooks } from '../policies/hooks';
import { loadPolicies, resolveStackPolicies } from '../policies/load';
import { formatDecision, renderErrorsText } from '../policies/render';
import type { Decision, HookEvent, Policy, PolicyError, Stage, Summary } from '../policies/types';

export interface PolicyCheckOptions {
  plan?: string;
  stack?: string;
  environment?: string;
  /** Current time (ISO); default now. Decides deployment-window decisions. */
  now?: string;
  json?: boolean;
}

export interface PolicyCheckIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Injected clock (epoch ms). */
  now?: () => number;
}

interface StackReport {
  file: string;
  name?: string;
  environment?: string;
  policies: string[];
  /** Hook names per event, in the order they run (priority, then as listed). */
  hooks: Partial<Record<HookEvent, string[]>>;
  decisions: Partial<Record<Stage, Decision[]>>;
  summary?: Summary;
}

export interface PolicyCheckReport {
  ok: boolean;
  repo: string;
  policyFiles: string[];
  policies: string[];
  /** Hooks defined by `hook` blocks (built-ins are not listed). */
  hooks: string[];
  errors: PolicyError[];
  stacks: StackReport[];
}

class UsageError extends Error {}

const SKIP_DIRS = new Set(['.git', 'node_modules', '.terraform', 'dist']);

/** Repository-relative paths of every stack.hcl (sorted; skips .git, node_modules, .terraform). */
export async function findStackFiles(repoDir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(repoDir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && !SKIP_DIRS.has(e.name)) await walk(r);
      else if (e.isFile() && e.name === 'stack.hcl') out.push(r);
    }
  };
  await walk('');
  return out;
}

function fromHclError(file: string, err: unknown): PolicyError {
  const e = err as { file?: string; line?: number; field?: string; message?: string };
  let message = e.message ?? String(err);
  // HclError messages start with "file:line: field: "; keep only the explanation.
  const prefix = `${e.file ?? file}${e.line !== undefined ? `:${e.line}` : ''}: `;
  if (message.startsWith(prefix)) message = message.slice(prefix.length);
  if (e.field && message.startsWith(`${e.field}: `)) message = message.slice(e.field.length + 2);
  return { file, ...(e.line !== undefined ? { line: e.line } : {}), ...(e.field ? { field: e.field } : {}), message };
}

/** Runs the check; returns the exit code. Never exits the process. */
export async function runPolicyCheck(repoDir: string, opts: PolicyCheckOptions, io: PolicyCheckIO): Promise<number> {
  try {
    const report = await checkRepository(repoDir, opts, io);
    io.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReportText(report));
    return report.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`stackly policy check: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

export async function checkRepository(repoDir: string, opts: PolicyCheckOptions, io: Pick<PolicyCheckIO, 'now'> = {}): Promise<PolicyCheckReport> {
  const repo = path.resolve(repoDir);
  const st = await stat(repo).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`${repoDir} is not a directory`);

  let now: number;
  if (opts.now !== undefined) {
    now = Date.parse(opts.now);
    if (!Number.isFinite(now)) throw new UsageError(`--now: "${opts.now}" is not an ISO date-time`);
  } else now = io.now ? io.now() : Date.now();

  let plan: unknown;
  if (opts.plan !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.plan, 'utf8');
    } catch (err) {
      throw new UsageError(`reading plan ${opts.plan}: ${(err as Error).message}`);
    }
    try {
      plan = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`plan ${opts.plan} is not JSON (use \`tofu show -json <planfile>\`): ${(err as Error).message}`);
    }
  }

  const loaded = await loadPolicies(repo);
  const errors: PolicyError[] = [...loaded.errors];
  const stackFiles = await findStackFiles(repo);

  let selected = stackFiles;
  if (opts.stack !== undefined) {
    const want = path.relative(repo, path.resolve(repo, opts.stack)).split(path.sep).join('/');
    const file = want.endsWith('stack.hcl') ? want : want === '' ? 'stack.hcl' : `${want}/stack.hcl`;
    if (!stackFiles.includes(file)) throw new UsageError(`--stack ${opts.stack}: no ${file} in ${repoDir}`);
    selected = [file];
  } else if (plan !== undefined && stackFiles.length > 1) {
    throw new UsageError(`the repository has ${stackFiles.length} stacks; choose the one the plan belongs to with --stack <dir>`);
  }

  const stacks: StackReport[] = [];
  const evaluateFor = (report: StackReport, policies: Policy[]): void => {
    const context = { now, environment: opts.environment ?? report.environment, ...(plan !== undefined ? { plan } : {}) };
    const all: Decision[] = [];
    for (const stage of plan !== undefined ? (['pre_plan', 'post_plan'] as const) : (['pre_plan'] as const)) {
      const ds = evaluate({ policies, stage, context });
      report.decisions[stage] = ds;
      all.push(...ds);
    }
    report.summary = summarize(all);
  };

  // Every stack.hcl is validated; decisions only for the selected ones.
  for (const file of stackFiles) {
    const text = await readFile(path.join(repo, file), 'utf8');
    let config: Awaited<ReturnType<typeof parseStackConfig>>;
    try {
      config = await parseStackConfig(text, file);
    } catch (err) {
      if ((err as { type?: string }).type !== 'HclError') throw err;
      errors.push(fromHclError(file, err));
      continue;
    }
    const lines = stackReferenceLines(text, config.name);
    const resolved = resolveStackPolicies(loaded, config.policies, file, lines.policies);
    errors.push(...resolved.errors);
    const hooks = resolveStackHooks(loaded, config.hooks, file, lines.hooks);
    errors.push(...hooks.errors);
    if (!selected.includes(file)) continue;
    const report: StackReport = {
      file,
      name: config.name,
      ...(config.environment !== undefined ? { environment: config.environment } : {}),
      policies: config.policies,
      hooks: Object.fromEntries(HOOK_EVENTS.filter((e) => hooks.hooks[e].length > 0).map((e) => [e, hooks.hooks[e].map((h) => h.name)])),
      decisions: {},
    };
    evaluateFor(report, resolved.policies);
    stacks.push(report);
  }

  // A repository of policies only (no stack.hcl): evaluate all of them.
  if (stackFiles.length === 0) {
    const report: StackReport = { file: '(no stack.hcl: all policies)', policies: Object.keys(loaded.policies), hooks: {}, decisions: {} };
    evaluateFor(report, Object.values(loaded.policies));
    stacks.push(report);
  }

  const denied = stacks.some((s) => s.summary?.verdict === 'deny');
  return {
    ok: errors.length === 0 && !denied,
    repo: repoDir,
    policyFiles: loaded.files,
    policies: Object.keys(loaded.policies).sort(),
    hooks: Object.keys(loaded.hooks).sort(),
    errors,
    stacks,
  };
}

export function renderReportText(r: PolicyCheckReport): string {
  const lines: string[] = [];
  lines.push(`policy files: ${r.policyFiles.length > 0 ? r.policyFiles.join(', ') : '(none)'}`);
  lines.push(`policies: ${r.policies.length > 0 ? r.policies.join(', ') : '(none)'}`);
  lines.push(`hooks: ${r.hooks.length > 0 ? r.hooks.join(', ') : '(none)'}`);
  if (r.errors.length > 0) lines.push(renderErrorsText(r.errors));
  for (const s of r.stacks) {
    const env = s.environment !== undefined ? ` (environment ${s.environment})` : '';
    lines.push('', `${s.file}${env}: policies ${s.policies.length > 0 ? s.policies.join(', ') : '(none)'}`);
    const hooks = Object.entries(s.hooks ?? {});
    if (hooks.length > 0) lines.push(`  hooks: ${hooks.map(([e, names]) => `${e} ${names.join(' → ')}`).join('; ')}`);
    for (const [stage, ds] of Object.entries(s.decisions)) {
      lines.push(`  ${stage}:`);
      if (ds.length === 0) lines.push('    (no decisions)');
      for (const d of ds) lines.push(`    ${formatDecision(d)}`);
    }
    if (s.summary) lines.push(`  verdict: ${s.summary.verdict}${s.summary.until !== undefined ? ` until ${s.summary.until}` : ''}`);
  }
  const denied = r.stacks.filter((s) => s.summary?.verdict === 'deny').length;
  const problems = [r.errors.length > 0 ? `${r.errors.length} error${r.errors.length === 1 ? '' : 's'}` : '', denied > 0 ? `${denied} stack${denied === 1 ? '' : 's'} denied` : '']
    .filter(Boolean)
    .join(', ');
  lines.push('', r.ok ? 'policy check passed' : `policy check failed: ${problems}`);
  return `${lines.join('\n')}\n`;
}

/** Adds `stackly policy check …` to the program. */
export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('policy files and decisions');
  policy
    .command('check')
    .description('validate policies/*.hcl (policies and hooks) and stack.hcl files of a checkout and print policy decisions (exit 0 pass, 1 fail, 2 usage)')
    .argument('<repo-dir>', 'repository checkout')
    .option('--plan <file>', 'plan JSON (`tofu show -json <planfile>`) to check the security rules against')
    .option('--stack <dir>', 'the stack directory the plan belongs to (needed when the repository has several)')
    .option('--environment <env>', "environment to evaluate for (default: the stack's environment)")
    .option('--now <iso>', 'evaluate deployment windows at this time (default: now)')
    .option('--json', 'print the report as JSON')
    .exitOverride((err) => {
      // Usage errors exit 2; help and version exit 0. Commander has already printed the message.
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .action(async (repoDir: string, opts: PolicyCheckOptions) => {
      const code = await runPolicyCheck(repoDir, opts, {
        stdout: (s) => process.stdout.write(s),
        stderr: (s) => process.stderr.write(s),
      });
      if (code === 2) process.exit(2);
      if (code === 1) throw Object.assign(new Error('policy check failed'), { exitCode: 1 });
    });
}
