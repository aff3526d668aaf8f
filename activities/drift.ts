/**
 * Drift checks on the control worker: asking a state's queue for a check (from its schedule's
 * workflow, or the api), recording what a check found, and asking for the run that remediates it.
 * The checks themselves plan on execution workers (workflows/drift.ts, activities/terraform/).
 * Factory over injected dependencies; no process.env here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Db } from '../db';
import { recordEvent } from '../db/repos/events';
import { hasSucceededApply, listOpenOperations, updateOperationStatus } from '../db/repos/operations';
import { getStateForDrift } from '../db/repos/stack-states';
import type { EventType } from '../db/tables/events';
import { WORKFLOWS, newRunId, type RunTrigger } from '../workflows/definitions';
import type { DriftActivities } from '../workflows/model/activities';
import type { DriftReport, DriftRequest } from '../workflows/model/drift';
import type { StackConfig } from '../workflows/model/stack';
import { requestRun } from './run-requests';

export interface DriftDeps {
  db: Db;
  logger: Logger;
  /** The Temporal client (default: the worker's own, from the activity context). */
  temporalClient?: () => Client;
}

/** Whether a workflow is still running (a row left `pending` by a terminated run does not count). */
async function running(client: Client, workflowId: string | null): Promise<boolean> {
  if (!workflowId) return false;
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING';
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}

/**
 * Asks the state's queue for a drift check of its deployed commit (the api's POST
 * /api/states/:id/drift and the schedule's workflow). See DriftActivities.requestDriftCheck.
 */
export async function requestDriftCheck(
  deps: { client: Client; db: Db; logger: Logger }, input: { stateId: string; taskQueue: string; trigger: RunTrigger },
): Promise<DriftRequest> {
  const { client, db, logger } = deps;
  const row = await getStateForDrift(db, input.stateId);
  if (!row) return { skipped: `state ${input.stateId} does not exist` };
  if (row.stateStatus !== 'active' || !row.stackCodeId) return { skipped: `state ${row.state} is ${row.stateStatus}` };
  if (row.codeStatus !== 'active') return { skipped: `stack code ${row.stack} is ${row.codeStatus}` };
  const config = row.config as Partial<StackConfig> | null;
  if (input.trigger.type === 'drift' && !config?.drift) return { skipped: `stack.hcl of ${row.stack} has no drift block any more` };
  if (!(await hasSucceededApply(db, row.stateId))) return { skipped: `state ${row.state} has never been deployed: nothing can drift yet` };
  for (const op of await listOpenOperations(db, row.stateId, 'drift')) {
    if (await running(client, op.workflow_id)) return { skipped: `drift check ${op.workflow_id} of this state is already ${op.status === 'pending' ? 'queued' : 'running'}` };
  }
  const runId = newRunId('drift', row.stateId, row.commit, randomBytes(6).toString('hex'));
  await requestRun(client, input.taskQueue, {
    runId, workflowType: WORKFLOWS.drift,
    input: { stateId: row.stateId, stackCodeId: row.stackCodeId, commit: row.commit, kind: 'drift', trigger: input.trigger, generation: Number(row.generation) },
  });
  logger.info({ stateId: row.stateId, runId, commit: row.commit, by: input.trigger.by }, 'drift check queued');
  return { runId };
}

const EVENT_OF: Record<DriftReport['outcome'], EventType> = { drift: 'drift_detected', none: 'drift_none', failed: 'drift_failed' };

export function createDriftActivities(deps: DriftDeps): DriftActivities {
  const { db, logger } = deps;
  const client = (): Client => deps.temporalClient?.() ?? Context.current().client;
  return {
    requestDriftCheck(input) {
      return requestDriftCheck({ client: client(), db, logger }, input);
    },

    async recordDriftResult(input) {
      const { report } = input;
      await updateOperationStatus(db, input.operationId, {
        status: report.outcome === 'failed' ? 'failed' : 'succeeded',
        ...(report.reason ? { error: { message: report.reason } } : {}),
        metadata: { phase: report.outcome === 'failed' ? 'failed' : report.outcome === 'drift' ? 'drift' : 'no_changes', drift: report },
      });
      await recordEvent(db, {
        accountId: input.ctx.accountId, stackCodeId: input.ctx.stackCodeId, stackStateId: input.ctx.stateId, operationId: input.operationId,
        type: EVENT_OF[report.outcome],
        payload: {
          workflow_id: input.workflowId, commit: report.commit, counts: report.counts,
          // Addresses and actions only: never attribute values.
          resources: report.resources.map((r) => ({ unit: r.unit, address: r.address, type: r.type, actions: r.actions })),
          ...(report.reason ? { reason: report.reason } : {}),
          ...(report.remediation ? { remediation: report.remediation } : {}),
        },
        dedupeKey: `${input.workflowId}:drift_result`,
      });
      logger.info({ workflowId: input.workflowId, outcome: report.outcome, resources: report.resources.length }, 'drift check recorded');
    },

    async requestRemediation(input) {
      const row = await getStateForDrift(db, input.stateId);
      if (!row || row.stateStatus !== 'active' || row.stackCodeId !== input.stackCodeId || row.codeStatus !== 'active') {
        return { skipped: 'the state or its stack code is no longer active' };
      }
      if (row.commit !== input.commit) return { skipped: `the state has been deployed from ${row.commit.slice(0, 12)} since the check` };
      if (row.codeCommit !== input.commit) {
        return { skipped: `commit ${row.codeCommit!.slice(0, 12)} is registered for this stack: its run restores the code's intent` };
      }
      const c = client();
      for (const op of await listOpenOperations(db, row.stateId, 'apply')) {
        if (await running(c, op.workflow_id)) return { skipped: `run ${op.workflow_id} of this state is already queued or running` };
      }
      const config = row.config as Partial<StackConfig> | null;
      const autoRemediate = config?.drift?.autoRemediate === true;
      // Derived from the check: a retried request names the same run (the queue takes it once).
      const suffix = createHash('sha256').update(input.checkRunId).digest('hex').slice(0, 12);
      const runId = newRunId('deploy', row.stateId, input.commit, suffix);
      await requestRun(c, input.taskQueue, {
        runId, workflowType: WORKFLOWS.stackRun,
        input: {
          stateId: row.stateId, stackCodeId: row.stackCodeId, commit: input.commit, kind: 'deploy',
          trigger: { type: 'drift', by: `drift:${input.checkRunId}` }, generation: Number(row.generation),
        },
      });
      logger.info({ stateId: row.stateId, runId, autoRemediate }, 'drift remediation run queued');
      // Without auto_remediate the run always asks (RunContext.approvalRequired); with it, as any run of the stack.
      return { runId, needsApproval: !autoRemediate || config?.autoDeploy !== true };
    },
  };
}
