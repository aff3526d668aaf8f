#!/usr/bin/env node
/**
 * The `stackly` command line. Each subcommand lives in its own file and registers itself here.
 * Runs as `npx tsx cli/index.ts …` or, compiled, as the package's `stackly` bin (dist/cli/index.js,
 * which keeps the `#!/usr/bin/env node` line above: tsc carries a first-line shebang over).
 */
import './wasm-flags';
import { Command } from 'commander';
import { registerApiKey } from './api-key';
import { registerDrift } from './drift';
import { registerGraph } from './graph';
import { registerLogin } from './login';
import { registerPolicyCommand } from './policy';
import { registerRun } from './run';
import { registerState } from './state';

/** Subcommand registry: add `registerX` functions here. */
const commands: Array<(program: Command) => void> = [registerGraph, registerPolicyCommand, registerRun, registerState, registerApiKey, registerLogin, registerDrift];

export function buildProgram(): Command {
  const program = new Command('stackly').description('run Terraform/OpenTofu stacks from Git on Temporal');
  for (const register of commands) register(program);
  return program;
}

/** Errors: one line to stderr, exit code 1 (or the error's own `exitCode`), no stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    process.stderr.write(`stackly: ${e instanceof Error ? e.message : String(e)}\n`);
    // `drift check --wait` exits 2 when drift was found (as tofu's -detailed-exitcode).
    const code = (e as { exitCode?: unknown }).exitCode;
    return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : 1;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => { process.exitCode = code; });
}
