/**
 * Control activities of a stack run: load what the run needs from the registry, and record its
 * operation and events in Postgres as it goes. Every write is idempotent (activities may be retried).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Db, DbOrTx } from '../db';
import { isStateKeyPrefix } from '../common/state-keys';
import { approvalsOfOperation } from '../db/repos/approvals';
import { recordEvent } from '../db/repos/events';
import { enqueueStatus, latestPlanCounts, runNotificationTarget } from '../db/repos/github-notifications';
import { runStatusContext, runStatusOf } from './github-status';
import { loginsOfPeople } from '../db/repos/people';
import { ensureOperation, updateOperationStatus } from '../db/repos/operations';
import { getRepositoryById } from '../db/repos/repositories';
import { getStateForRun, getStateGeneration, markStateDeployed, markStateDestroyed } from '../db/repos/stack-states';
import type { EventType } from '../db/tables/events';
import type { OperationStatus, OperationType } from '../db/tables/operations';
import type { RunKind, StackRunInput } from '../workflows/definitions';
import type { RunContext } from '../workflows/model/run';
import type { StackConfig } from '../workflows/model/stack';
import type { RunActivities } from '../workflows/model/activities';
import { loadRunGates } from './run-gates';

export interface RunsDeps {
  db: Db;
  logger: Logger;
  /**
   * The commits of `commits` that are not reachable from the repository's tracked branch after
   * fetching (the control worker's git mirror): a run started through the API must deploy a commit of
   * the tracked branch. Absent (tests of other activities): not checked.
   */
  unreachableCommits?: (repo: { repositoryId: string; repoUrl: string; branch: string }, commits: string[]) => Promise<string[]>;
  /** Fills the git cache at a commit from git (git.ts fillGitCache), for the deployed commit's gates when the cache lacks them. */
  fillGitCache?: (repo: { repositoryId: string | null; repoUrl: string; branch: string }, commit: string, dirs: string[]) => Promise<unknown>;
}

/**
 * One event of a run, and the run's commit status on GitHub into the outbox in the same transaction:
 * recorded once (a retried event inserts nothing and enqueues nothing), never lost, and posted by the
 * control worker's notifier (workers/github-notifier.ts), never by the run itself, so GitHub being
 * down neither blocks nor fails a run.
 */
async function recordRunEvent(
  tx: DbOrTx, ctx: Pick<RunContext, 'accountId' | 'stackCodeId' | 'stateId'>, operationId: string, e: { type: EventType; payload: unknown; dedupeKey: string },
): Promise<void> {
  const inserted = await recordEvent(tx, {
    accountId: ctx.accountId, stackCodeId: ctx.stackCodeId, stackStateId: ctx.stateId,
    operationId, type: e.type, payload: e.payload, dedupeKey: e.dedupeKey,
  });
  if (!inserted) return;
  const target = await runNotificationTarget(tx, operationId);
  if (!target || (target.operationType !== 'apply' && target.operationType !== 'destroy')) return;
  const counts = ['approval_required', 'deploy_completed'].includes(e.type) ? await latestPlanCounts(tx, operationId) : undefined;
  const status = runStatusOf(e.type, e.payload, target.operationType, counts);
  if (!status) return;
  await enqueueStatus(tx, {
    repositoryId: target.repositoryId, sha: target.sha, context: runStatusContext(target.stack, target.state),
    state: status.state, description: status.description, runId: target.workflowId,
  });
}

const OP_TYPE: Record<RunKind, OperationType> = { deploy: 'apply', destroy: 'destroy', drift: 'drift' };

export function createRunActivities({ db, logger, unreachableCommits, fillGitCache }: RunsDeps): RunActivities {
  return {
    async loadRunContext(input: StackRunInput): Promise<RunContext> {
      // A loose state has no stack code; its destroy runs the code it was last deployed with.
      const row = await getStateForRun(db, input.stateId);
      if (!row) throw ApplicationFailure.nonRetryable(`stack state ${input.stateId} does not exist or has no stack code`, 'StackStateNotFound');
      if (row.stackCodeId !== input.stackCodeId) {
        throw ApplicationFailure.nonRetryable(`stack state ${input.stateId} belongs to stack code ${row.stackCodeId}, not ${input.stackCodeId}`, 'StackStateMismatch');
      }
      if (input.kind !== 'destroy' && row.codeStatus !== 'active') {
        throw ApplicationFailure.nonRetryable(`stack code ${row.stackCodeId} is ${row.codeStatus}: fix its stack.hcl and push again`, 'StackCodeNotActive');
      }
      if (input.kind !== 'destroy' && row.stateStatus !== 'active') {
        throw ApplicationFailure.nonRetryable(`stack state ${row.state} is ${row.stateStatus}`, 'StackStateNotActive');
      }
      if (!isStateKeyPrefix(row.stateKeyPrefix)) {
        throw ApplicationFailure.nonRetryable(`stack state ${row.state} (${row.stateId}) has no state key of its own (${row.stateKeyPrefix}): run \`npm run migrate\``, 'StateKeyNotMigrated');
      }
      if (row.legacyKey) {
        // Its objects still sit under the name-derived key: planning now would plan against nothing.
        throw ApplicationFailure.nonRetryable(
          `the Terraform state of ${row.state} (${row.stateId}) has not been moved from ${row.legacyKey} to ${row.stateKeyPrefix} yet: run \`npm run migrate\` with S3_* set`,
          'StateKeyNotMigrated',
        );
      }
      const pushedConfig = row.config as StackConfig;
      const repo = row.repositoryId ? await getRepositoryById(db, row.repositoryId) : undefined;
      if (input.trigger.type === 'manual' && unreachableCommits && row.repositoryId) {
        if (repo && (await unreachableCommits({ repositoryId: repo.id, repoUrl: repo.url, branch: repo.tracked_branch }, [input.commit])).length > 0) {
          const reason = `commit ${input.commit} is not reachable from the tracked branch ${repo.tracked_branch}: only the tracked branch deploys`;
          await recordEvent(db, {
            accountId: row.accountId, stackCodeId: row.stackCodeId, stackStateId: row.stateId, type: 'run_refused',
            payload: { reason, commit: input.commit, by: input.trigger.by }, dedupeKey: `run_refused:${input.stateId}:${input.commit}:${input.trigger.by}:${input.generation ?? ''}`,
          });
          throw ApplicationFailure.nonRetryable(reason, 'CommitNotOnBranch');
        }
      }
      // The gates are the stricter of the deployed commit's and this commit's, plus the account's.
      const { gates, settings } = input.kind === 'drift' ? { gates: undefined, settings: undefined } : await loadRunGates(db, {
        accountId: row.accountId, stackCodeId: row.stackCodeId, repoUrl: row.repoUrl, repositoryId: row.repositoryId, stackPath: row.stackPath, state: row.state,
        commit: input.commit, config: pushedConfig, deployedCommit: row.fromCommit, compareDeployed: input.kind === 'deploy',
        ...(fillGitCache ? {
          fillCache: (commit: string, dirs: string[]) => fillGitCache({ repositoryId: row.repositoryId, repoUrl: row.repoUrl, branch: repo?.tracked_branch ?? 'main' }, commit, dirs),
        } : {}),
      });
      const config: StackConfig = settings ? {
        ...pushedConfig, autoDeploy: settings.autoDeploy,
        ...(pushedConfig.drift ? { drift: { ...pushedConfig.drift, autoRemediate: settings.autoRemediate } } : {}),
      } : pushedConfig;
      const remediationAsks = input.kind === 'deploy' && input.trigger.type === 'drift' && config.drift?.autoRemediate !== true;
      const approvalReasons = [
        ...(remediationAsks ? ['remediation of drift (stack.hcl: auto_remediate = false)'] : []),
        ...(settings?.approvalReasons ?? []),
      ];
      const people = [input.trigger.author, input.trigger.pusher].filter((p): p is string => !!p);
      const authors = [...new Set([...people, ...await loginsOfPeople(db, people)])];
      return {
        accountId: row.accountId, account: row.account, stackCodeId: row.stackCodeId, stack: row.stack,
        stateId: row.stateId, state: row.state, stateKeyPrefix: row.stateKeyPrefix, environment: config.environment ?? row.state,
        repoUrl: row.repoUrl, repositoryId: row.repositoryId, stackPath: row.stackPath, commit: input.commit, fromCommit: row.fromCommit,
        config, variables: (row.variables ?? {}) as Record<string, unknown>,
        deployedCommitUnreachable: !!(row.stateMetadata as Record<string, unknown> | null)?.commit_unreachable,
        authors,
        // A remediation of drift asks first unless stack.hcl says auto_remediate = true (at both commits);
        // so does a run whose push changes `requires` or whose deployed commit's gates are unreadable.
        ...(approvalReasons.length ? { approvalRequired: approvalReasons.join('; ') } : {}),
        ...(gates ? { gates } : {}),
      };
    },

    async checkRunCurrent(input: { stateId: string; kind: RunKind; generation?: number }): Promise<{ current: boolean; reason?: string }> {
      if (input.kind !== 'deploy' || input.generation === undefined) return { current: true };
      const s = await getStateGeneration(db, input.stateId);
      if (!s) return { current: false, reason: 'the state no longer exists' };
      if (Number(s.generation) > input.generation) {
        return { current: false, reason: `a newer commit of this stack was registered while this run waited (generation ${s.generation} > ${input.generation})` };
      }
      return { current: true };
    },

    async startOperation(input: { ctx: RunContext; workflowId: string; kind: RunKind; triggeredBy: string; status?: 'pending' | 'running' }): Promise<string> {
      return ensureOperation(db, {
        stackStateId: input.ctx.stateId, type: OP_TYPE[input.kind], status: input.status ?? 'running', triggeredBy: input.triggeredBy,
        workflowId: input.workflowId, fromCommit: input.ctx.fromCommit, toCommit: input.ctx.commit,
        metadata: { stack: input.ctx.stack, state: input.ctx.state },
      });
    },

    async updateOperation(input: {
      operationId: string; status: OperationStatus; error?: unknown; metadata?: Record<string, unknown>;
    }): Promise<void> {
      await updateOperationStatus(db, input.operationId, { status: input.status, error: input.error, metadata: input.metadata });
    },

    async emitRunEvent(input: {
      ctx: Pick<RunContext, 'accountId' | 'stackCodeId' | 'stateId'>; operationId: string; type: EventType; payload: unknown; dedupeKey: string;
    }): Promise<void> {
      await db.transaction().execute((tx) => recordRunEvent(tx, input.ctx, input.operationId, input));
    },

    async emitRunEvents(input) {
      // One transaction for the batch: a retry of a half-written batch inserts only what is missing.
      await db.transaction().execute(async (tx) => {
        for (const e of input.events) await recordRunEvent(tx, input.ctx, input.operationId, e);
      });
    },

    async readApprovals({ operationId }) {
      return approvalsOfOperation(db, operationId);
    },

    async markStateDeployed(input: { stateId: string; commit: string; kind: RunKind }): Promise<void> {
      if (input.kind === 'destroy') await markStateDestroyed(db, input.stateId);
      else await markStateDeployed(db, input.stateId, input.commit);
      logger.info({ stateId: input.stateId, commit: input.commit, kind: input.kind }, 'stack state updated after run');
    },
  };
}
