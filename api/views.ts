/** Row → API representation. Secrets never leave: repositories show only whether they have one. */
import type { Repository } from '../db/tables/repositories';
import type { StackCode } from '../db/tables/stack-codes';
import type { StackState } from '../db/tables/stack-states';
import type { Operation } from '../db/tables/operations';
import type { StoredEvent } from '../db/tables/events';
import type { DriftReport } from '../workflows/model/drift';

export const repositoryView = (r: Repository) => ({
  id: r.id,
  url: r.url,
  tracked_branch: r.tracked_branch,
  has_webhook_secret: r.webhook_secret_enc !== null,
  has_credentials: r.credentials_enc !== null,
  /** Commit statuses and pull-request plans go to GitHub (the connection's auth is never shown). */
  github: r.github_auth_enc
    ? { connected: true, repository: r.github_repository, api_url: r.github_api_url, allow_fork_prs: r.allow_fork_prs }
    : { connected: false, repository: null, api_url: null, allow_fork_prs: r.allow_fork_prs },
  created_at: r.created_at,
  updated_at: r.updated_at,
});

export const stackCodeView = (c: StackCode) => ({
  id: c.id,
  repository_id: c.repository_id,
  repo_url: c.repo_url,
  repo_path: c.repo_path,
  name: c.name,
  current_commit: c.current_commit,
  status: c.status,
  config: c.config,
  error: c.error,
  created_at: c.created_at,
  updated_at: c.updated_at,
});

function meta(s: StackState): Record<string, unknown> {
  return s.metadata && typeof s.metadata === 'object' ? (s.metadata as Record<string, unknown>) : {};
}

export const stateView = (s: StackState) => ({
  id: s.id,
  stack_code_id: s.stack_code_id,
  name: s.name,
  status: s.status,
  commit_hash: s.commit_hash,
  /** Set when a force push made the deployed commit unreachable from the tracked branch. */
  commit_unreachable: meta(s).commit_unreachable ?? null,
  /** Prefix of the state's objects in the bucket, `<account>/<state-id>/`: derived from the id, never changes. */
  tf_state_key: s.tf_state_key,
  /** Before migration 0002 moved them: where its objects still are (its runs refuse to plan until `npm run migrate`). */
  legacy_tf_state_key: s.legacy_tf_state_key ?? null,
  generation: Number(s.generation),
  // Variable names only: values may be sensitive.
  variable_names: Object.keys((s.variables as Record<string, unknown>) ?? {}).sort(),
  metadata: meta(s),
  created_at: s.created_at,
  updated_at: s.updated_at,
});

export const operationView = (o: Operation) => ({
  id: o.id,
  stack_state_id: o.stack_state_id,
  type: o.type,
  status: o.status,
  triggered_by: o.triggered_by,
  workflow_id: o.workflow_id,
  from_commit: o.from_commit,
  to_commit: o.to_commit,
  started_at: o.started_at,
  completed_at: o.completed_at,
  error_details: o.error_details,
  metadata: o.metadata,
});

export const eventView = (e: StoredEvent) => ({
  id: e.id,
  type: e.type,
  stack_code_id: e.stack_code_id,
  stack_state_id: e.stack_state_id,
  operation_id: e.operation_id,
  payload: e.payload,
  created_at: e.created_at,
});

/** A drift check (an operation of type `drift`): what it found, from its metadata (addresses and actions, never values). */
export const driftCheckView = (o: Operation) => {
  const m = (o.metadata && typeof o.metadata === 'object' ? o.metadata : {}) as { drift?: DriftReport };
  const d = m.drift;
  return {
    id: o.id,
    workflow_id: o.workflow_id,
    status: o.status,
    /** drift, none or failed once the check has ended; null while it is queued or running. */
    outcome: d?.outcome ?? null,
    commit: o.to_commit,
    triggered_by: o.triggered_by,
    started_at: o.started_at,
    completed_at: o.completed_at,
    counts: d?.counts ?? null,
    resources: d?.resources ?? [],
    units: d?.units ?? {},
    reason: d?.reason ?? null,
    remediation: d?.remediation ?? null,
  };
};
