/**
 * `stackly state …`: stack states through the REST API.
 *
 *   stackly state unlock <state-id> --unit <unit> --reason <text> [--json]
 *   stackly state secret set <state-id> <name> [--value-file F]   (value from stdin or F, never argv)
 *   stackly state secret list <state-id> [--json]                  (names, who, when; never values)
 *   stackly state secret delete <state-id> <name>
 *
 * `unlock` breaks the state lock of one unit (POST /api/states/:id/unlock): only when the Stackly
 * worker process that took it is no longer alive, or when no Stackly worker claimed it (a human's
 * tofu). A lock held by a live worker process is refused (HTTP 409 naming the holder). Errors are one
 * line (`stackly: unlocking …: HTTP 409 lock_held: …`), exit 1.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient, resolveConnection, withConnection, type ConnectionOptions } from './api-client';

/** The API's answer to POST /api/states/:id/unlock. */
export interface UnlockBody {
  unlocked: boolean;
  state_id: string;
  unit: string;
  key: string;
  why: 'holder_not_alive' | 'unclaimed';
  lock: {
    id: string; operation: string; who: string; created: string;
    holder: { worker_id: string; incarnation: string | null; run_id: string; unit: string; phase: string; claimed_at: string } | null;
  };
}

export function unlockState(client: Pick<ApiClient, 'request'>, stateId: string, unit: string, reason: string): Promise<UnlockBody> {
  return client.request(`unlocking unit ${unit} of state ${stateId}`, 'POST', `/api/states/${encodeURIComponent(stateId)}/unlock`, { unit, reason });
}

/** One line saying what was broken. */
export function unlockedLine(b: UnlockBody): string {
  const h = b.lock.holder;
  const holder = h
    ? `held by worker ${h.worker_id} (run ${h.run_id}, ${h.phase} of unit ${h.unit}), which is no longer alive`
    : `not claimed by a Stackly worker (${b.lock.operation || 'operation ?'} by ${b.lock.who || '?'} since ${b.lock.created || '?'})`;
  return `Unlocked unit ${b.unit} of state ${b.state_id}: lock ${b.lock.id}, ${holder}`;
}

/**
 * A secret's value from a file or stdin, never argv (argv is visible to every user of the machine and
 * kept in shell history). One trailing newline (what `echo` and editors add) is dropped.
 */
export async function readSecretValue(opts: { valueFile?: string }, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let raw: string;
  if (opts.valueFile) raw = readFileSync(opts.valueFile, 'utf8');
  else {
    if ((stdin as { isTTY?: boolean }).isTTY) throw new Error('give the value on stdin (e.g. `… < file`) or with --value-file; never on the command line');
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(Buffer.from(c as Buffer));
    raw = Buffer.concat(chunks).toString('utf8');
  }
  const value = raw.replace(/\r?\n$/, '');
  if (value === '') throw new Error('the secret value is empty');
  return value;
}

interface SecretInfo { name: string; scope: string; updated_at: string; updated_by: string }

export function registerState(program: Command): void {
  const state = program.command('state').description('stack states (through the REST API)');

  withConnection(state.command('unlock'))
    .description('break the state lock of a unit whose holder is gone (never that of a live worker process)')
    .argument('<state-id>', 'the state (its id)')
    .requiredOption('--unit <unit>', 'the unit whose state is locked')
    .requiredOption('--reason <text>', 'why (recorded in the state_unlocked event)')
    .option('--json', 'print the API\'s JSON')
    .action(async (stateId: string, opts: ConnectionOptions & { unit: string; reason: string; json?: boolean }) => {
      if (opts.reason.trim() === '') throw new Error('--reason must say why the lock is broken');
      const body = await unlockState(new ApiClient(resolveConnection(opts)), stateId, opts.unit, opts.reason);
      process.stdout.write(opts.json ? JSON.stringify(body) + '\n' : unlockedLine(body) + '\n');
    });

  const secret = state.command('secret').description('secret variables of a state (write-only: values are never shown)');
  const path = (stateId: string, name?: string) => `/api/states/${encodeURIComponent(stateId)}/secrets${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
  withConnection(secret.command('set'))
    .description('set a secret variable (TF_VAR_<name> of the units declaring it); the value comes from stdin or --value-file')
    .argument('<state-id>', 'the state (its id)')
    .argument('<name>', 'the root variable it gives a value to')
    .option('--value-file <file>', 'read the value from this file (default: stdin)')
    .action(async (stateId: string, name: string, opts: ConnectionOptions & { valueFile?: string }) => {
      const value = await readSecretValue(opts);
      const body = await new ApiClient(resolveConnection(opts)).request<SecretInfo>(`setting secret ${name} of state ${stateId}`, 'PUT', path(stateId, name), { value });
      process.stdout.write(`Secret ${body.name} of state ${stateId} set by ${body.updated_by} at ${body.updated_at}\n`);
    });
  withConnection(secret.command('list'))
    .description('the names of a state\'s secret variables, who set them and when')
    .argument('<state-id>', 'the state (its id)')
    .option('--json', 'print the API\'s JSON')
    .action(async (stateId: string, opts: ConnectionOptions & { json?: boolean }) => {
      const body = await new ApiClient(resolveConnection(opts)).request<{ secrets: SecretInfo[] }>(`listing secrets of state ${stateId}`, 'GET', path(stateId));
      if (opts.json) process.stdout.write(JSON.stringify(body) + '\n');
      else for (const x of body.secrets) process.stdout.write(`${x.name}\t${x.updated_at}\t${x.updated_by}\n`);
    });
  withConnection(secret.command('delete'))
    .description('delete a secret variable of a state')
    .argument('<state-id>', 'the state (its id)')
    .argument('<name>', 'the variable')
    .action(async (stateId: string, name: string, opts: ConnectionOptions) => {
      await new ApiClient(resolveConnection(opts)).request(`deleting secret ${name} of state ${stateId}`, 'DELETE', path(stateId, name));
      process.stdout.write(`Secret ${name} of state ${stateId} deleted\n`);
    });
}
