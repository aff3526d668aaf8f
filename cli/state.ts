/**
 * `stackly state …`: stack states through the REST API.
 *
 *   stackly state unlock <state-id> --unit <unit> --reason <text> [--json]
 *
 * `unlock` breaks the state lock of one unit (POST /api/states/:id/unlock): only when the Stackly
 * worker process that took it is no longer alive, or when no Stackly worker claimed it (a human's
 * tofu). A lock held by a live worker process is refused (HTTP 409 naming the holder). Errors are one
 * line (`stackly: unlocking …: HTTP 409 lock_held: …`), exit 1.
 */
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
}
