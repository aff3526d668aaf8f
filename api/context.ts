/** What every route module receives: the injected dependencies plus the api's own helpers. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Db } from '../db';
import type { Logger } from '../common/logger';
import type { AccessTokenVerifier, Authenticate, Principal } from './auth/principal';
import type { SecretBox } from '../common/secret-box';
import type { SecretBoxFor } from '../common/secret-variables';
import type { NamespaceClients } from '../common/temporal';
import type { AccountProvisioner } from './accounts/provision';
import type { SignatureVerifier } from './signature';
import type { SignIn } from './auth/sign-in';
import type { RateLimiter, RateLimitSettings } from './rate-limit';
import type { BlobCipher } from '../activities/terraform/store';
import type { RunLogRouteOptions } from './routes/run-logs';

export interface ApiDeps {
  db: Db;
  logger: Logger;
  /**
   * Temporal clients by namespace (a lazy connection is fine: an unreachable server gives 503, not a
   * crash). Every request uses the client of its account's namespace: the caller's, or for a webhook
   * delivery the namespace of the account its repository belongs to.
   */
  temporal: NamespaceClients;
  /** accounts.id of the platform account (STACKLY_ACCOUNT): its admins may create accounts. */
  platformAccountId: string;
  /** Makes new accounts' Temporal namespaces and Transit keys; without it POST /api/accounts answers 503. */
  provisioner?: AccountProvisioner;
  /** Global webhook secret (GitHub App / org-wide hooks); repositories may have their own. */
  webhookSecret: string;
  /**
   * The global webhook secret verifies deliveries (development only: WEBHOOK_GLOBAL_SECRET_ALLOWED=1).
   * Otherwise every repository needs its own, and registering one without is refused.
   */
  allowGlobalWebhookSecret?: boolean;
  secretBox: SecretBox;
  /**
   * A SecretBox over a named Transit key (the account's): secret variables are sealed with it. Without
   * it, setting a secret variable answers 503.
   */
  secretBoxFor?: SecretBoxFor;
  bodyLimitBytes: number;
  /** Verifies signed-in users' access tokens; without it only API keys authenticate. */
  accessTokens?: AccessTokenVerifier;
  /** Signing in through identity providers and refreshing tokens (/auth/*); without it those answer 404. */
  signIn?: SignIn;
  /** How long a request may wait for Temporal before answering 503 (default 5 s). */
  temporalTimeoutMs?: number;
  /** Task queue of pushWorkflow and the runs started by hand (default CONTROL_TASK_QUEUE). */
  taskQueue?: string;
  /**
   * Opens the run log chunks of a namespace (blobCipherFromKeyring(keyring, namespace)); without it
   * GET /api/runs/:id/logs answers 503.
   */
  logCipher?: (namespace: string) => BlobCipher;
  /** Poll, heartbeat and end-check intervals of the log event streams (tests make them short). */
  runLogs?: RunLogRouteOptions;
  /** The bucket of the states and their locks (S3_* set); without it the lock routes answer 503. */
  s3?: { client: S3Client; bucket: string };
  /** A worker is alive when it heartbeated within this many seconds (default workers/registration LIVE_SECONDS). */
  liveWorkerSeconds?: number;
  /** Requests a minute per credential, per account and per address without a credential (api/rate-limit.ts); without it, none. */
  rateLimits?: RateLimitSettings;
  /** Fastify's trustProxy: whose X-Forwarded-For gives the client address (per-address limits, logs); default none. */
  trustProxy?: boolean | string[];
}

export interface RouteContext extends ApiDeps {
  /** Who the caller is (API key or access token), with their account, role and groups. */
  authenticate: Authenticate;
  verifySignature: SignatureVerifier;
  taskQueue: string;
  temporalTimeoutMs: number;
  /** The rate limits, when any is on (authorize() applies them). */
  rateLimiter?: RateLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (REST routes): account, role, groups. */
    principal: Principal;
    /** The caller's name (principal.name), for logs and events. */
    user: string;
  }
}
