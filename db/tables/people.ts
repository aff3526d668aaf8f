/** Users, memberships (role per account), groups, API keys, refresh tokens, sign-ins in progress, rate-limit counters. */
import type { Generated, Selectable } from 'kysely';

export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
/** Cumulative: each role may do what the ones before it may. */
export type Role = (typeof ROLES)[number];

export interface UsersTable {
  id: Generated<string>;
  provider: 'github' | 'oidc' | 'local';
  subject: string;
  login: string;
  email: string | null;
  name: string | null;
  created_at: Generated<Date>;
  last_login_at: Date | null;
}
export type User = Selectable<UsersTable>;

export interface MembershipsTable {
  account_id: string;
  user_id: string;
  role: Role;
  /** admin: an admin's decision (never changed by sign-in); idp: made by a role mapping at sign-in. */
  source: Generated<'admin' | 'idp'>;
  created_at: Generated<Date>;
}
export type Membership = Selectable<MembershipsTable>;

export interface UserGroupsTable {
  id: Generated<string>;
  user_id: string;
  group_name: string;
  source: 'idp' | 'admin';
  account_id: string | null;
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: Generated<string>;
  account_id: string;
  user_id: string | null;
  name: string;
  role: Role;
  prefix: string;
  hash: string;
  created_at: Generated<Date>;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}
export type ApiKey = Selectable<ApiKeysTable>;

export interface RefreshTokensTable {
  id: Generated<string>;
  user_id: string;
  hash: string;
  created_at: Generated<Date>;
  expires_at: Date;
  revoked_at: Date | null;
  replaced_by: string | null;
}

export interface LoginRequestsTable {
  state: string;
  provider: string;
  code_verifier: string;
  nonce: string | null;
  redirect_to: string | null;
  cli_poll_hash: string | null;
  /** The code a command line shows, typed at the browser to confirm its sign-in (migration 0004). */
  cli_code: Generated<string | null>;
  /** SHA-256 of the confirmation cookie of the browser that finished the sign-in. */
  cli_browser_hash: Generated<string | null>;
  cli_confirmed_at: Generated<Date | null>;
  user_id: string | null;
  created_at: Generated<Date>;
  expires_at: Date;
  completed_at: Date | null;
  consumed_at: Date | null;
}

export interface RateLimitsTable {
  key: string;
  window_start: Date;
  count: number;
}
