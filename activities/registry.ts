/**
 * Registry activities of the push pipeline: register, update and de-register stack codes and their
 * states, mark invalid stack codes and rewritten history, record events. Each call is one transaction
 * and idempotent (activities may be retried): rows are locked with FOR UPDATE, events carry a dedupe
 * key derived from the delivery id. Factory over injected dependencies; no process.env here.
 *
 * Pushes may be handled out of order (deliveries arrive concurrently, workflows interleave). Every
 * change is a compare-and-set: the caller says which latest commit it decided against
 * (`expectedLatest`); if another push moved the stack code meanwhile, the answer is `{ conflict }`
 * and nothing changes, so the caller re-plans against the new state. A stack code never moves back
 * to an older commit.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { stateKeyPrefix } from '../common/state-keys';
import type { Db, Tx } from '../db';
import type { Logger } from '../common/logger';
import { getAccountName } from '../db/repos/accounts';
import { anyEventWithKey, recordEvent } from '../db/repos/events';
import {
  insertStackCode, latestCommitOf, listLatestDeregisteredOfRepo, listLiveStackCodesOfRepo, lockLiveStackCode, lockStackCode, updateStackCode,
} from '../db/repos/stack-codes';
import {
  insertState, listActiveStatesOfRepo, listDestroyingStatesOfStackCode, listStateIdsOfStackCodeOrLeftLoose, listStatesOfStackCode, lockActiveStatesOfRepoAtCommits, lockStatesOfStackCode, updateState,
} from '../db/repos/stack-states';
import type { Conflict, DeregisterResult, RegisteredStack, RegisterResult, StackRef } from '../workflows/model/registry';
import type { StackConfig, StackConfigError } from '../workflows/model/stack';
import type { RegistryActivities } from '../workflows/model/activities';
import { syncDriftSchedules } from './drift-schedules';

export interface RegistryActivityDeps {
  db: Db;
  logger: Logger;
  /** The Temporal client drift schedules are kept with (default: the worker's own, from the activity context). */
  temporalClient?: () => Client;
  /** The control queue drift schedules start their workflow on (default: this activity's own queue). */
  scheduleTaskQueue?: () => string;
}

function basename(dir: string): string {
  return dir === '.' ? 'root' : dir.split('/').pop()!;
}

function metaOf(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
}

export function createRegistryActivities(deps: RegistryActivityDeps): RegistryActivities {
  const { db, logger } = deps;

  /**
   * After a registry change has committed: the drift schedules of these states follow it (created,
   * updated or deleted; idempotent, so a retried activity converges). A failure fails the activity,
   * which is retried: the registry change itself is already made and a retry finds it done.
   */
  async function followSchedules(stateIds: readonly string[]): Promise<void> {
    if (stateIds.length === 0) return;
    await syncDriftSchedules({
      client: deps.temporalClient?.() ?? Context.current().client,
      taskQueue: deps.scheduleTaskQueue?.() ?? Context.current().info.taskQueue,
      db, logger,
    }, stateIds);
  }
  const isConflict = (r: object): r is Conflict => (r as Partial<Conflict>).conflict === true;

  async function loosen(tx: Tx, s: { id: string; metadata: unknown; stack_code_id: string | null }, ref: StackRef, reason: string): Promise<void> {
    const metadata = { ...metaOf(s.metadata), previous_stack_code_id: s.stack_code_id, loose_reason: reason };
    await updateState(tx, s.id, { status: 'loose', stackCodeId: null, metadata });
    await recordEvent(tx, {
      accountId: ref.accountId, stackCodeId: s.stack_code_id, stackStateId: s.id, type: 'state_loose',
      payload: { reason, repo_path: ref.repoPath, commit: ref.commit, delivery_id: ref.deliveryId },
      dedupeKey: `${ref.deliveryId}:state_loose:${s.id}`,
    });
  }

  /**
   * The compare-and-set check. A stack code already at `input.commit` is not a conflict: that is this
   * very change made by an earlier attempt of the activity (or the same commit pushed twice).
   */
  function check(existing: { status: string; current_commit: string; error: unknown } | undefined, input: StackRef): Conflict | null {
    if (input.expectedLatest === undefined) return null;
    const latest = existing ? latestCommitOf(existing as Parameters<typeof latestCommitOf>[0]) : null;
    if (latest === input.expectedLatest || latest === input.commit) return null;
    logger.info({ repoPath: input.repoPath, commit: input.commit, expected: input.expectedLatest, latest }, 'stack code changed by another push; re-planning');
    return { conflict: true, latestCommit: latest };
  }

  /** A transaction whose unique-violation (two pushes inserting the same new stack code) is a conflict. */
  async function casTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T | Conflict> {
    try {
      return await db.transaction().execute(fn);
    } catch (e) {
      if ((e as { code?: string }).code === '23505' && /stack_codes_live_path/.test(String((e as { constraint?: string }).constraint ?? (e as Error).message))) {
        return { conflict: true, latestCommit: null };
      }
      throw e;
    }
  }

  /**
   * Makes the code's states those declared in its stack.hcl: variables updated (the generation grows
   * with a new commit, so older queued runs are superseded), new states created with their id-derived
   * key, undeclared ones made loose.
   */
  async function syncStates(
    tx: Tx, codeId: string, account: string, kind: RegisterResult['kind'], input: StackRef & { config: StackConfig },
  ): Promise<Pick<RegisterResult, 'states' | 'loosened'>> {
    const current = await lockStatesOfStackCode(tx, codeId);
    const byName = new Map(current.map((s) => [s.name, s]));
    const states: RegisterResult['states'] = [];
    for (const sc of input.config.states) {
      const variables = { ...input.config.variables, ...sc.variables };
      const have = byName.get(sc.name);
      if (have) {
        const row = await updateState(tx, have.id, { variables, ...(have.status === 'loose' ? { status: 'active' } : {}), bumpGeneration: kind !== 'unchanged' });
        if (have.status === 'active' || have.status === 'loose') states.push({ id: have.id, name: have.name, generation: Number(row.generation) });
      } else {
        // The state's objects live under a key derived from its id, never from a name in stack.hcl.
        const id = randomUUID();
        const s = await insertState(tx, {
          id, accountId: input.accountId, stackCodeId: codeId, name: sc.name, commit: input.commit,
          tfStateKey: stateKeyPrefix(account, id), variables, metadata: { registered_by: `github:${input.deliveryId}` },
        });
        states.push({ id: s.id, name: s.name, generation: Number(s.generation) });
      }
    }
    const declared = new Set(input.config.states.map((s) => s.name));
    const loosened: string[] = [];
    for (const s of current) {
      if (!declared.has(s.name) && s.status === 'active') {
        await loosen(tx, s, input, 'state removed from stack.hcl');
        loosened.push(s.id);
      }
    }
    return { states, loosened };
  }

  return {
    async listRegisteredStacks(input: { repoUrl: string }): Promise<RegisteredStack[]> {
      const [live, gone] = await Promise.all([listLiveStackCodesOfRepo(db, input.repoUrl), listLatestDeregisteredOfRepo(db, input.repoUrl)]);
      return [
        ...live.map((r) => ({
          id: r.id, repoPath: r.repo_path, name: r.name, status: r.status as 'active' | 'invalid', currentCommit: r.current_commit, latestCommit: latestCommitOf(r),
        })),
        ...gone.map((r) => ({
          id: r.id, repoPath: r.repo_path, name: r.name, status: 'deregistered' as const, currentCommit: r.current_commit, latestCommit: r.deregistered_commit ?? r.current_commit,
        })),
      ];
    },

    async registerStack(input: StackRef & { config: StackConfig }): Promise<RegisterResult | Conflict> {
      const result = await casTransaction(async (tx) => {
        const existing = await lockLiveStackCode(tx, input.repoUrl, input.repoPath);
        const conflict = check(existing, input);
        if (conflict) return conflict;
        const account = await getAccountName(tx, input.accountId);
        const cfg = input.config;
        let kind: RegisterResult['kind'];
        let codeId: string;
        if (!existing) {
          const row = await insertStackCode(tx, {
            accountId: input.accountId, repositoryId: input.repositoryId, repoUrl: input.repoUrl, repoPath: input.repoPath,
            name: cfg.name, commit: input.commit, config: cfg, status: 'active', error: null,
          });
          codeId = row.id;
          kind = 'new';
          await recordEvent(tx, {
            accountId: input.accountId, stackCodeId: codeId, type: 'module_registered',
            payload: { name: cfg.name, repo_url: input.repoUrl, repo_path: input.repoPath, commit: input.commit, delivery_id: input.deliveryId },
            dedupeKey: `${input.deliveryId}:module_registered:${codeId}`,
          });
        } else {
          codeId = existing.id;
          kind = existing.current_commit === input.commit && existing.status === 'active' ? 'unchanged' : 'updated';
          await updateStackCode(tx, codeId, { name: cfg.name, commit: input.commit, config: cfg, status: 'active', error: null });
          if (kind === 'updated') {
            await recordEvent(tx, {
              accountId: input.accountId, stackCodeId: codeId, type: 'module_updated',
              payload: { name: cfg.name, from_commit: existing.current_commit, commit: input.commit, delivery_id: input.deliveryId },
              dedupeKey: `${input.deliveryId}:module_updated:${codeId}`,
            });
          }
        }
        const { states, loosened } = await syncStates(tx, codeId, account, kind, input);
        const madeByThisDelivery = kind !== 'unchanged' || await anyEventWithKey(tx, ['module_registered', 'module_updated', 'module_moved'].map((t) => `${input.deliveryId}:${t}:${codeId}`));
        logger.info({ stackCodeId: codeId, repoPath: input.repoPath, commit: input.commit, kind, madeByThisDelivery }, 'stack code registered');
        return { stackCodeId: codeId, kind, states, loosened, madeByThisDelivery };
      });
      if (!isConflict(result)) await followSchedules([...result.states.map((x) => x.id), ...result.loosened]);
      return result;
    },

    async moveStack(input: StackRef & { config: StackConfig; stackCodeId: string; fromPath: string; expectedFromLatest: string }): Promise<RegisterResult | Conflict> {
      const result = await casTransaction(async (tx): Promise<RegisterResult | Conflict> => {
        const code = await lockStackCode(tx, input.stackCodeId);
        if (!code) return { conflict: true, latestCommit: null } satisfies Conflict;
        // Retried after the first attempt committed: the move is done.
        const done = code.repo_path === input.repoPath && code.current_commit === input.commit && code.status === 'active';
        if (!done) {
          if (code.status === 'deregistered' || code.repo_path !== input.fromPath || latestCommitOf(code) !== input.expectedFromLatest) {
            return { conflict: true, latestCommit: latestCommitOf(code) } satisfies Conflict;
          }
          if (await lockLiveStackCode(tx, input.repoUrl, input.repoPath)) return { conflict: true, latestCommit: null } satisfies Conflict;
        }
        const account = await getAccountName(tx, input.accountId);
        const cfg = input.config;
        const kind: RegisterResult['kind'] = done ? 'unchanged' : 'updated';
        if (!done) {
          await updateStackCode(tx, code.id, { name: cfg.name, repoPath: input.repoPath, commit: input.commit, config: cfg, status: 'active', error: null });
          await recordEvent(tx, {
            accountId: input.accountId, stackCodeId: code.id, type: 'module_moved',
            payload: {
              name: cfg.name, from_path: input.fromPath, to_path: input.repoPath, from_commit: code.current_commit, commit: input.commit, delivery_id: input.deliveryId,
            },
            dedupeKey: `${input.deliveryId}:module_moved:${code.id}`,
          });
        }
        const { states, loosened } = await syncStates(tx, code.id, account, kind, input);
        const madeByThisDelivery = !done || await anyEventWithKey(tx, [`${input.deliveryId}:module_moved:${code.id}`]);
        logger.info({ stackCodeId: code.id, from: input.fromPath, to: input.repoPath, commit: input.commit }, 'stack code moved');
        return { stackCodeId: code.id, kind, states, loosened, madeByThisDelivery };
      });
      if (!isConflict(result)) await followSchedules([...result.states.map((x) => x.id), ...result.loosened]);
      return result;
    },

    async markStackInvalid(input: StackRef & { error: StackConfigError }): Promise<{ stackCodeId: string } | Conflict> {
      const result = await casTransaction(async (tx) => {
        const existing = await lockLiveStackCode(tx, input.repoUrl, input.repoPath);
        const conflict = check(existing, input);
        if (conflict) return conflict;
        const error = { ...input.error, commit: input.commit };
        const id = existing
          ? (await updateStackCode(tx, existing.id, { status: 'invalid', error })).id
          : (await insertStackCode(tx, {
            accountId: input.accountId, repositoryId: input.repositoryId, repoUrl: input.repoUrl, repoPath: input.repoPath,
            name: basename(input.repoPath), commit: input.commit, config: {}, status: 'invalid', error,
          })).id;
        await recordEvent(tx, {
          accountId: input.accountId, stackCodeId: id, type: 'module_invalid',
          payload: { repo_path: input.repoPath, commit: input.commit, error: input.error, delivery_id: input.deliveryId },
          dedupeKey: `${input.deliveryId}:module_invalid:${id}`,
        });
        return { stackCodeId: id };
      });
      // An invalid stack code runs nothing, drift checks included, until a valid push.
      if (!isConflict(result)) await followSchedules((await listStatesOfStackCode(db, result.stackCodeId)).map((x) => x.id));
      return result;
    },

    async deregisterStack(input: StackRef & { stackCodeId: string }): Promise<DeregisterResult | Conflict> {
      const result = await db.transaction().execute(async (tx): Promise<DeregisterResult | Conflict> => {
        const code = await lockStackCode(tx, input.stackCodeId);
        if (!code) throw new Error(`de-registering stack code ${input.stackCodeId}: it does not exist`);
        if (code.status !== 'deregistered') {
          const conflict = check(code, input);
          if (conflict) return conflict;
        }
        const cfg = code.config as Partial<StackConfig> | null;
        const onDelete: DeregisterResult['onDelete'] = code.status === 'active' && cfg?.onDelete === 'destroy' ? 'destroy' : 'loose';
        const loosened: string[] = [];
        if (code.status !== 'deregistered') {
          await updateStackCode(tx, code.id, { status: 'deregistered', error: code.error ?? null });
          await recordEvent(tx, {
            accountId: code.account_id, stackCodeId: code.id, type: 'module_deregistered',
            payload: { repo_path: code.repo_path, commit: input.commit, on_delete: onDelete, delivery_id: input.deliveryId },
            dedupeKey: `${input.deliveryId}:module_deregistered:${code.id}`,
          });
          for (const s of await lockStatesOfStackCode(tx, code.id)) {
            if (s.status !== 'active') continue;
            if (onDelete === 'destroy') {
              await updateState(tx, s.id, { status: 'destroying' });
              await recordEvent(tx, {
                accountId: code.account_id, stackCodeId: code.id, stackStateId: s.id, type: 'destroy_initiated',
                payload: { reason: 'stack code removed (on_delete = "destroy")', commit: s.commit_hash, delivery_id: input.deliveryId },
                dedupeKey: `${input.deliveryId}:destroy_initiated:${s.id}`,
              });
            } else {
              await loosen(tx, s, input, 'stack code removed');
              loosened.push(s.id);
            }
          }
        }
        // Read back (also on a retry after the first attempt committed).
        const destroying = await listDestroyingStatesOfStackCode(tx, code.id);
        return { stackCodeId: code.id, onDelete, destroy: destroying.map((s) => ({ id: s.id, commit: s.commit_hash, generation: Number(s.generation) })), loosened };
      });
      // Every state it had (also on a retry, whose result no longer names the states it loosened).
      if (!isConflict(result)) await followSchedules([...result.destroy.map((x) => x.id), ...result.loosened, ...await listStateIdsOfStackCodeOrLeftLoose(db, result.stackCodeId)]);
      return result;
    },

    async listActiveStates(input: { repoUrl: string }): Promise<Array<{ id: string; stackCodeId: string; commit: string }>> {
      const rows = await listActiveStatesOfRepo(db, input.repoUrl);
      return rows.map((r) => ({ id: r.id, stackCodeId: r.stack_code_id!, commit: r.commit_hash }));
    },

    async markUnreachableStates(input: { accountId: string; repoUrl: string; branch: string; commits: string[]; deliveryId: string; after: string }): Promise<string[]> {
      if (input.commits.length === 0) return [];
      return db.transaction().execute(async (tx) => {
        const rows = await lockActiveStatesOfRepoAtCommits(tx, input.repoUrl, input.commits);
        for (const s of rows) {
          const meta = metaOf(s.metadata);
          meta.commit_unreachable = { commit: s.commit_hash, branch: input.branch, head: input.after, delivery_id: input.deliveryId };
          await updateState(tx, s.id, { metadata: meta });
          await recordEvent(tx, {
            accountId: input.accountId, stackCodeId: s.stack_code_id, stackStateId: s.id, type: 'history_rewritten',
            payload: { commit: s.commit_hash, branch: input.branch, head: input.after, delivery_id: input.deliveryId },
            dedupeKey: `${input.deliveryId}:history_rewritten:${s.id}`,
          });
        }
        return rows.map((r) => r.id);
      });
    },
  };
}
