/** The database as Kysely sees it: one entry per table, each defined in tables/. */
import type { AccountsTable } from './tables/accounts';
import type { AccountPoliciesTable } from './tables/account-policies';
import type { ApprovalsTable } from './tables/approvals';
import type { EventsTable } from './tables/events';
import type { GitCacheTable } from './tables/git-cache';
import type { GithubNotificationsTable, PullRequestsTable } from './tables/github';
import type { OperationsTable } from './tables/operations';
import type { RepositoriesTable } from './tables/repositories';
import type { RunLogChunksTable } from './tables/run-log-chunks';
import type { StackCodesTable } from './tables/stack-codes';
import type { StackStatesTable } from './tables/stack-states';
import type { WebhookDeliveriesTable } from './tables/webhook-deliveries';
import type { WorkersTable } from './tables/workers';
import type { HookAddressAllowlistTable, HookEnvGrantsTable, SecretVariablesTable, WorkerPoolBindingsTable } from './tables/execution-secrets';
import type {
  ApiKeysTable, LoginRequestsTable, MembershipsTable, RateLimitsTable, RefreshTokensTable, UserGroupsTable, UsersTable,
} from './tables/people';

export interface Database {
  accounts: AccountsTable;
  repositories: RepositoriesTable;
  stack_codes: StackCodesTable;
  stack_states: StackStatesTable;
  operations: OperationsTable;
  git_cache: GitCacheTable;
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  workers: WorkersTable;
  approvals: ApprovalsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  user_groups: UserGroupsTable;
  api_keys: ApiKeysTable;
  refresh_tokens: RefreshTokensTable;
  login_requests: LoginRequestsTable;
  rate_limits: RateLimitsTable;
  run_log_chunks: RunLogChunksTable;
  github_notifications: GithubNotificationsTable;
  pull_requests: PullRequestsTable;
  account_policies: AccountPoliciesTable;
  secret_variables: SecretVariablesTable;
  worker_pool_bindings: WorkerPoolBindingsTable;
  hook_address_allowlist: HookAddressAllowlistTable;
  hook_env_grants: HookEnvGrantsTable;
}
