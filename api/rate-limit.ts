/**
 * Rate limits (issue 19, part 7) with `@fastify/rate-limit` and a store of our own over Postgres
 * (db/repos/rate-limits.ts), so every api instance counts against the same fixed windows.
 *
 * - An authenticated request counts against its credential (the API key; a signed-in user's tokens
 *   together) and against its account (all of its credentials together). Both apply, the credential
 *   first: a request its credential may not make is refused without spending the account's budget,
 *   so one runaway key does not use up the others'. The keys are the principal, never the address,
 *   because limits run after authentication (api/auth/authorize.ts).
 * - A request without a valid credential (401, or no account chosen) counts against its client
 *   address, with a separate, generous limit, as does every request to the public routes other than
 *   the webhook receiver (the OpenAPI description; sign-in). A valid credential never counts against
 *   an address: people behind one NAT are not limited together.
 * - The GitHub webhook receiver is not limited (api/README.md says why).
 * - Past a limit: 429, `Retry-After` (seconds until the window ends), and the api's error body
 *   naming the limit. Every counted answer carries `X-RateLimit-Limit/Remaining/Reset` of the
 *   stricter limit.
 * - When Postgres cannot count (down, slow to fail, table missing) requests are let through and a
 *   warning is logged (at most every 30 s): limits protect capacity, not access, which
 *   authentication and roles still check on every request.
 */
import fastifyRateLimit, { normalizeIP, type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db';
import { incrementWindow, pruneWindows, readWindow, type WindowCount } from '../db/repos/rate-limits';
import type { Logger } from '../common/logger';
import type { Principal } from './auth/principal';
import { ApiError } from './errors';

export interface RateLimitSettings {
  /** Requests a window per credential (an API key; a signed-in user's access tokens); 0 = no limit. */
  perCredential: number;
  /** Requests a window per account, all its credentials together; 0 = no limit. */
  perAccount: number;
  /** Requests a window per client address without a valid credential, and to public routes; 0 = no limit. */
  perAddress: number;
  /** The fixed window (default one minute; tests use shorter ones). */
  windowMs?: number;
}

export const DEFAULT_WINDOW_MS = 60_000;

export type LimitKind = 'credential' | 'account' | 'address';

/** What one limit said about a request. */
export interface LimitOutcome {
  kind: LimitKind;
  max: number;
  /** Requests left in this window (0 once past it). */
  remaining: number;
  /** Until the window ends. */
  ttlMs: number;
  exceeded: boolean;
}

// ---- pure parts ----

/** Time left in the window `w` began, at least 1 ms (a window that just ended still says "retry in 1 s"). */
export function windowTtlMs(w: Pick<WindowCount, 'windowStartMs' | 'nowMs'>, windowMs: number): number {
  return Math.max(1, Math.min(windowMs, w.windowStartMs + windowMs - w.nowMs));
}

/** Whole seconds to wait, as `Retry-After` says it (rounded up, at least 1). */
export const retryAfterSeconds = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs / 1000));

/**
 * The limit that answers: an exceeded one (the one whose window ends last, when several are), else
 * the one with the fewest requests left (its numbers go into the X-RateLimit headers).
 */
export function stricter(outcomes: readonly LimitOutcome[]): LimitOutcome | undefined {
  const exceeded = outcomes.filter((o) => o.exceeded);
  if (exceeded.length) return exceeded.reduce((a, b) => (b.ttlMs > a.ttlMs ? b : a));
  return outcomes.reduce<LimitOutcome | undefined>((a, b) => (!a || b.remaining < a.remaining ? b : a), undefined);
}

/** "a minute", "every 10 s". */
export const windowWords = (windowMs: number): string => (windowMs === 60_000 ? 'a minute' : `every ${windowMs / 1000} s`);

/** The 429's message: which limit, for whom, and when to come back. */
export function exceededMessage(o: LimitOutcome, windowMs: number, who?: Pick<Principal, 'name' | 'apiKeyId' | 'accountName'>): string {
  const retry = `retry in ${retryAfterSeconds(o.ttlMs)} s`;
  const rate = `${o.max} requests ${windowWords(windowMs)}`;
  switch (o.kind) {
    case 'credential':
      return `rate limit of the credential exceeded: ${who?.apiKeyId ? `an API key (acting as ${who.name})` : who?.name ?? 'this credential'} may make ${rate}; ${retry}`;
    case 'account':
      return `rate limit of account ${who?.accountName ?? '?'} exceeded: all its credentials together may make ${rate}; ${retry}`;
    case 'address':
      return `rate limit of requests without a valid credential exceeded: one address may make ${rate}; ${retry}`;
  }
}

// ---- the store ----

/**
 * The `@fastify/rate-limit` store over Postgres. The plugin constructs it with its options (unused:
 * the window and key come with each call) and asks a child per limiter; the keys are already
 * namespaced (`key:`, `user:`, `account:`, `address:`), so children share the one store.
 */
export function postgresStore(db: Db, onError: (e: unknown) => void): FastifyRateLimitStoreCtor {
  type Callback = Parameters<FastifyRateLimitStore['incr']>[1];
  const answer = (p: Promise<WindowCount>, cb: Callback, windowMs: number) => {
    p.then(
      (w) => cb(null, { current: w.count, ttl: windowTtlMs(w, windowMs) }),
      (e: unknown) => { onError(e); cb(e instanceof Error ? e : new Error(String(e))); },
    );
  };
  return class PostgresRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, cb: Callback, timeWindow: number): void {
      answer(incrementWindow(db, key, timeWindow), cb, timeWindow);
    }

    /** `createRateLimit(…)(req, { increment: false })`: the count without counting. */
    read(key: string, cb: Callback, timeWindow: number): void {
      answer(readWindow(db, key, timeWindow), cb, timeWindow);
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

// ---- the limiter the api uses ----

export interface RateLimiter {
  /** Counts an authenticated request against its credential, then its account; 429 past either. */
  principal(req: FastifyRequest): Promise<void>;
  /** Counts a request without a principal against its client address; 429 past the limit. */
  address(req: FastifyRequest): Promise<void>;
}

type Check = (req: FastifyRequest) => Promise<{ isAllowed: boolean; max?: number; remaining?: number; ttl?: number; isExceeded?: boolean }>;

export const credentialKey = (p: Pick<Principal, 'apiKeyId' | 'id'>): string => (p.apiKeyId ? `key:${p.apiKeyId}` : `user:${p.id}`);
export const accountKey = (p: Pick<Principal, 'accountId'>): string => `account:${p.accountId}`;

/**
 * Registers `@fastify/rate-limit` (not globally: the limits run where authorize() runs) with the
 * Postgres store, the X-RateLimit headers, and the pruning of old windows. Undefined when every
 * limit is 0.
 */
export async function installRateLimits(app: FastifyInstance, deps: { db: Db; logger: Logger; settings: RateLimitSettings }): Promise<RateLimiter | undefined> {
  const { db, logger, settings } = deps;
  const windowMs = settings.windowMs ?? DEFAULT_WINDOW_MS;
  if (settings.perCredential <= 0 && settings.perAccount <= 0 && settings.perAddress <= 0) return undefined;

  let lastWarning = 0;
  const warn = (e: unknown, what: string) => {
    if (Date.now() - lastWarning < 30_000) return;
    lastWarning = Date.now();
    logger.warn({ err: e instanceof Error ? { message: e.message, code: (e as { code?: string }).code } : String(e) }, `${what}: requests are let through unlimited meanwhile`);
  };
  await app.register(fastifyRateLimit, {
    global: false,
    timeWindow: windowMs,
    // Fail open (module comment): a counter that cannot be read lets the request through.
    skipOnError: true,
    store: postgresStore(db, (e) => warn(e, 'rate-limit counters unavailable (Postgres)')),
  });

  const limiter = (max: number, keyGenerator: (req: FastifyRequest) => string): Check | undefined =>
    max > 0 ? app.createRateLimit({ max, timeWindow: windowMs, keyGenerator }) : undefined;
  const byCredential = limiter(settings.perCredential, (req) => credentialKey(req.principal));
  const byAccount = limiter(settings.perAccount, (req) => accountKey(req.principal));
  const byAddress = limiter(settings.perAddress, (req) => `address:${normalizeIP(req.ip)}`);

  // The headers of the stricter limit, set when the answer goes out (also on the 429 itself).
  const headers = new WeakMap<FastifyRequest, LimitOutcome>();
  app.addHook('onSend', async (req, reply, payload) => {
    const o = headers.get(req);
    if (o) {
      reply.header('x-ratelimit-limit', o.max);
      reply.header('x-ratelimit-remaining', o.remaining);
      reply.header('x-ratelimit-reset', retryAfterSeconds(o.ttlMs));
      if (o.exceeded) reply.header('retry-after', retryAfterSeconds(o.ttlMs));
    }
    return payload;
  });

  /** Runs the limits in order, stopping at the first exceeded one; 429 when one is. */
  const apply = async (req: FastifyRequest, checks: Array<[LimitKind, Check | undefined]>, who?: Principal) => {
    const outcomes: LimitOutcome[] = [];
    for (const [kind, check] of checks) {
      if (!check) continue;
      const r = await check(req);
      if (r.isAllowed || r.max === undefined) continue;
      const o: LimitOutcome = { kind, max: r.max, remaining: r.remaining ?? 0, ttlMs: r.ttl || windowMs, exceeded: r.isExceeded === true };
      outcomes.push(o);
      if (o.exceeded) break;
    }
    const answer = stricter(outcomes);
    if (!answer) return;
    headers.set(req, answer);
    if (answer.exceeded) {
      req.log.info({ limit: answer.kind, max: answer.max, who: who?.name, account: who?.accountName }, 'rate limited');
      throw new ApiError(429, 'rate_limited', exceededMessage(answer, windowMs, who));
    }
  };

  // Windows long gone are deleted by every instance now and then (idempotent; the table holds a
  // row per active key and recent window only).
  const keepMs = Math.max(2 * windowMs, 10 * 60_000);
  const timer = setInterval(() => {
    pruneWindows(db, keepMs).catch((e: unknown) => warn(e, 'pruning rate-limit counters failed'));
  }, Math.max(windowMs, 60_000));
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  return {
    principal: (req) => apply(req, [['credential', byCredential], ['account', byAccount]], req.principal),
    address: (req) => apply(req, [['address', byAddress]]),
  };
}
