/**
 * Stand-alone runner for `policy check` until cli/index.ts registers `registerPolicyCommand`:
 * `npx tsx cli/policy-main.ts policy check <repo-dir> [...]`.
 */
import { Command } from 'commander';
import { registerPolicyCommand } from './policy';

const program = new Command('stackly');
registerPolicyCommand(program);
program.parseAsync(process.argv).then(
  () => undefined,
  (err: unknown) => {
    const code = (err as { exitCode?: number }).exitCode ?? 1;
    if (code === 1 && (err as Error).message !== 'policy check failed') process.stderr.write(`stackly: ${(err as Error).message}\n`);
    process.exitCode = code;
  },
);
