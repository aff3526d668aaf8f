/**
 * Drift schedules follow the registry: one Temporal Schedule per stack state whose stack code is
 * active and whose stack.hcl has a `drift` block (id `drift-<state id>`, the block's cron), none for
 * any other state (no block, a loose, destroyed or de-registered state, an invalid stack code).
 * `syncDriftSchedules` makes Temporal match Postgres for the states it is given; it is idempotent
 * (a push seen twice leaves one schedule) and is called after every registry change that can affect
 * a state's schedule (activities/registry.ts, the api's re-association).
 *
 * The schedule's action is `driftScheduleWorkflow` on the control task queue, which asks the state's
 * queue for a drift check (workflows/drift.ts): the check itself waits for its turn like any run.
 * Overlap SKIP (a check still being asked for is not asked twice), a catch-up window of one hour
 * (after an outage at most the last missed check runs, never a backlog), never paused on failure.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Db } from '../db';
import { getStateForDrift } from '../db/repos/stack-states';
import { WORKFLOWS, driftScheduleId, type DriftScheduleInput } from '../workflows/definitions';
import type { StackConfig } from '../workflows/model/stack';

/** After an outage, missed checks older than this are not taken (the next one comes on time). */
export const DRIFT_CATCHUP_WINDOW = 60 * 60 * 1000;

const SA = {
  stack: defineSearchAttributeKey('StacklyStack', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('StacklyState', SearchAttributeType.KEYWORD),
  environment: defineSearchAttributeKey('StacklyEnvironment', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('StacklyRunKind', SearchAttributeType.KEYWORD),
};

export interface DriftScheduleSync {
  upserted: string[];
  deleted: string[];
}

/** What a state's schedule should be, or undefined when it should have none. */
export interface WantedSchedule {
  scheduleId: string;
  cron: string;
  stack: string;
  state: string;
  environment: string;
  stackCodeId: string;
}

/** Pure: the schedule a state should have, from its registry row. */
export function wantedSchedule(row: {
  stateId: string; state: string; stateStatus: string; stackCodeId: string | null; stack: string | null; codeStatus: string | null; config: unknown;
}): WantedSchedule | undefined {
  if (row.stateStatus !== 'active' || row.codeStatus !== 'active' || !row.stackCodeId) return undefined;
  const config = row.config as Partial<StackConfig> | null;
  if (!config?.drift?.schedule) return undefined;
  return {
    scheduleId: driftScheduleId(row.stateId), cron: config.drift.schedule, stack: row.stack ?? config.name ?? '', state: row.state,
    environment: config.environment ?? row.state, stackCodeId: row.stackCodeId,
  };
}

/**
 * Makes each state's drift schedule what the registry says: created or updated (cron, action,
 * policies, search attributes; unpaused), or deleted. `taskQueue`: the control queue the schedule's
 * workflow runs on.
 */
export async function syncDriftSchedules(
  deps: { client: Client; db: Db; logger: Logger; taskQueue: string }, stateIds: readonly string[],
): Promise<DriftScheduleSync> {
  const { client, db, logger, taskQueue } = deps;
  const done: DriftScheduleSync = { upserted: [], deleted: [] };
  for (const stateId of [...new Set(stateIds)]) {
    const row = await getStateForDrift(db, stateId);
    const want = row ? wantedSchedule(row) : undefined;
    const scheduleId = driftScheduleId(stateId);
    const handle = client.schedule.getHandle(scheduleId);
    if (!want) {
      try {
        await handle.delete();
        done.deleted.push(scheduleId);
        logger.info({ scheduleId, stateId }, 'drift schedule deleted');
      } catch (e) {
        if (!(e instanceof ScheduleNotFoundError)) throw new Error(`deleting drift schedule ${scheduleId}: ${(e as Error).message}`);
      }
      continue;
    }
    const input: DriftScheduleInput = { stateId };
    const searchAttributes: SearchAttributePair[] = [
      { key: SA.stack, value: want.stack }, { key: SA.state, value: want.state }, { key: SA.environment, value: want.environment }, { key: SA.kind, value: 'drift' },
    ];
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow', workflowType: WORKFLOWS.driftSchedule, taskQueue, args: [input],
      // Temporal appends the scheduled time to this id: one per firing.
      workflowId: `${scheduleId}-check`,
      typedSearchAttributes: searchAttributes,
      // Asking the queue is a short, idempotent step.
      workflowExecutionTimeout: '10 minutes',
    };
    const spec = { cronExpressions: [want.cron] };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: DRIFT_CATCHUP_WINDOW, pauseOnFailure: false };
    const update = () => handle.update((prev) => ({
      ...prev, spec, action, policies, typedSearchAttributes: searchAttributes, state: { ...prev.state, paused: false, note: `drift checks of ${want.stack}/${want.state}` },
    }));
    try {
      await client.schedule.create({
        scheduleId, spec, action, policies, typedSearchAttributes: searchAttributes,
        memo: { stackCodeId: want.stackCodeId, stateId, stack: want.stack, state: want.state },
        state: { note: `drift checks of ${want.stack}/${want.state}` },
      });
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw new Error(`creating drift schedule ${scheduleId} (cron "${want.cron}"): ${(e as Error).message}`);
      try {
        await update();
      } catch (u) {
        throw new Error(`updating drift schedule ${scheduleId} (cron "${want.cron}"): ${(u as Error).message}`);
      }
    }
    done.upserted.push(scheduleId);
    logger.info({ scheduleId, stateId, cron: want.cron }, 'drift schedule created or updated');
  }
  return done;
}
