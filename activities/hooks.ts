/**
 * The hook runner (issue 7 item 5): a control activity that runs the hooks of one run event in
 * priority order, each with its own timeout, and returns one result per hook for the workflow to
 * record as hook_completed / hook_failed events.
 *
 * Webhook hooks POST a small JSON summary of the run (policies/hooks.ts `webhookBody`: names, ids,
 * plan counts; never variable values or secrets) with `X-Stackly-Signature-256: sha256=<hex HMAC of
 * the body>`. The HMAC key, and the URL when the hook uses `url_env`, are environment variables of
 * the control worker (`STACKLY_HOOK_*`, read once by common/config.ts and injected as `deps.env`),
 * looked up here by the *name* the hook definition carries: they never enter Temporal history,
 * events, results or logs. A rotated secret needs a worker restart. Any status outside 2xx, a redirect, a
 * network error or the timeout is a failure. Built-in hooks (plan_guard, record) are decided by the
 * pure functions of policies/hooks.ts.
 *
 * Issue 15: a hook may name only the `STACKLY_HOOK_*` variables an admin granted to the run's
 * repository (`PUT /api/repositories/:id/hook-env/:name`), and reaches only public addresses or those
 * an admin allow-listed for the account (activities/hook-targets.ts); both are read from Postgres for
 * each run (the run's operation → state → account and repository). Without that (no database given,
 * or a run whose owner cannot be found) every webhook hook is refused.
 */
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import type { DbOrTx } from '../db';
import { listHookAddresses } from '../db/repos/hook-address-allowlist';
import { listHookEnvGrants } from '../db/repos/hook-env-grants';
import { runOwnerOfWorkflow } from '../db/repos/operations';
import { checkedTarget, systemLookup, type Lookup } from './hook-targets';
import { failureBlocks, hookDeliveryId, orderHooks, runBuiltinHook, webhookBody } from '../policies/hooks';
import type { HookDefinition, HookResult, HookRunContext, WebhookHook } from '../policies/types';
import type { RunHooksInput } from '../workflows/model/run';
import type { HookActivities } from '../workflows/model/activities';

export interface HookDeps {
  logger: Logger;
  /**
   * Where secret_env / url_env are looked up: the worker config's `STACKLY_HOOK_*` record. Only
   * those names, so no hook can reach another variable of the worker.
   */
  env: Readonly<Record<string, string | undefined>>;
  /** Where the run's account allow-list and repository grants are read (default: the database). */
  permissions?: HookPermissionsSource;
  db?: DbOrTx;
  /** The namespace these activities serve: a run of an account of another namespace gets nothing. */
  namespace?: string;
  /** DNS seam for tests (default: the system resolver). */
  lookup?: Lookup;
}

/** What the hooks of one run may use: env names granted to its repository, address ranges allowed to its account. */
export interface HookPermissions {
  grantedEnv: ReadonlySet<string>;
  allowedCidrs: readonly string[];
}
export type HookPermissionsSource = (runId: string) => Promise<HookPermissions | { refused: string }>;

/** The permissions of a run, from Postgres: fails closed when the run's owner cannot be told. */
export function hookPermissionsFromDb(db: DbOrTx, namespace?: string): HookPermissionsSource {
  return async (runId) => {
    const owner = await runOwnerOfWorkflow(db, runId);
    if (!owner) return { refused: `run ${runId} has no operation to tell its account and repository by` };
    if (namespace !== undefined && owner.namespace !== namespace) return { refused: `run ${runId} is not a run of namespace ${namespace}` };
    const [grants, allowed] = await Promise.all([
      owner.repositoryId ? listHookEnvGrants(db, owner.accountId, owner.repositoryId) : Promise.resolve([]),
      listHookAddresses(db, owner.accountId),
    ]);
    return { grantedEnv: new Set(grants.map((g) => g.env_name)), allowedCidrs: allowed.map((a) => a.cidr) };
  };
}

/** POSTs `body` to the checked address (never a second DNS answer), no redirects followed. */
function postPinned(url: URL, address: string, family: number, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; statusText: string; text: string }> {
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else cb(null, address, family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => { if (size < 64 * 1024) { chunks.push(c); size += c.length; } });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const SIGNATURE_HEADER = 'X-Stackly-Signature-256';
const USER_AGENT = 'Stackly-Hooks/1';
const SNIPPET = 200;

/** `sha256=<hex>` of the body with the key: the value of X-Stackly-Signature-256 (GitHub's scheme). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

type Outcome = { ok: boolean; message: string; status?: number };

/** A short, single-line excerpt of a response body for the failure reason. */
function snippet(text: string): string {
  const one = [...text].map((ch) => (ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127 ? ' ' : ch)).join('').replace(/ +/g, ' ').trim();
  return one.length > SNIPPET ? `${one.slice(0, SNIPPET)}…` : one;
}

function describeFetchError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const cause = err?.code ?? err?.cause?.code ?? err?.cause?.message;
  return `request failed: ${cause ?? err?.message ?? String(e)}`;
}

export function createHookActivities(deps: HookDeps): HookActivities {
  const { env } = deps;
  const permissionsOf: HookPermissionsSource = deps.permissions
    ?? (deps.db ? hookPermissionsFromDb(deps.db, deps.namespace) : async () => ({ refused: 'this worker has no database to read hook permissions from' }));
  const lookup = deps.lookup ?? systemLookup;

  async function sendWebhook(def: WebhookHook, ctx: HookRunContext, perms: HookPermissions | { refused: string }): Promise<Outcome> {
    if ('refused' in perms) return { ok: false, message: `webhook hook "${def.name}" refused: ${perms.refused}` };
    // Only names an admin granted to the run's repository; checked before anything is looked up.
    for (const [field, name] of [['secret_env', def.secretEnv], ['url_env', def.urlEnv]] as const) {
      if (name !== undefined && !perms.grantedEnv.has(name)) {
        return { ok: false, message: `hook "${def.name}": ${field} ${name} is not granted to this repository (an admin grants it: PUT /api/repositories/:id/hook-env/${name})` };
      }
    }
    // Names of variables may appear in messages; their values never do.
    const secret = env[def.secretEnv];
    if (!secret) return { ok: false, message: `${def.secretEnv} (the HMAC key of hook "${def.name}") is not set on the control worker` };
    const url = def.url ?? (def.urlEnv !== undefined ? env[def.urlEnv] : undefined);
    const where = def.url !== undefined ? new URL(def.url).host : `the URL in ${def.urlEnv}`;
    if (!url) return { ok: false, message: `${def.urlEnv} (the URL of hook "${def.name}") is not set on the control worker` };
    if (!/^https?:\/\//i.test(url)) return { ok: false, message: `${where} is not an http(s) URL` };

    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { ok: false, message: `${where} is not a valid URL` };
    }
    const target = await checkedTarget(parsed, perms.allowedCidrs, lookup);
    if ('error' in target) return { ok: false, message: `POST to ${where}: ${def.urlEnv !== undefined && def.url === undefined ? target.error.replace(parsed.hostname, 'its host') : target.error}` };

    const body = JSON.stringify(webhookBody(def.name, ctx, new Date().toISOString()));
    try {
      const res = await postPinned(parsed, target.address, target.family, {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'x-stackly-event': ctx.event,
        'x-stackly-hook': def.name,
        'x-stackly-delivery': hookDeliveryId(ctx, def.name),
        [SIGNATURE_HEADER.toLowerCase()]: signBody(secret, body),
      }, body, def.timeoutMs);
      const text = res.text;
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, message: `POST to ${where}: HTTP ${res.status}` };
      const extra = snippet(text);
      return { ok: false, status: res.status, message: `POST to ${where}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${extra ? `: ${extra}` : ''}` };
    } catch (e) {
      return { ok: false, message: `POST to ${where}: ${describeFetchError(e, def.timeoutMs)}` };
    }
  }

  async function runOne(def: HookDefinition, ctx: HookRunContext, perms: () => Promise<HookPermissions | { refused: string }>): Promise<Outcome> {
    if (def.type === 'webhook') return sendWebhook(def, ctx, await perms());
    return runBuiltinHook(def, ctx);
  }

  return {
    async runHooks(input: RunHooksInput): Promise<HookResult[]> {
      const ctx: HookRunContext = { ...input.context, event: input.event };
      const results: HookResult[] = [];
      let stoppedBy: string | undefined;
      let permissions: Promise<HookPermissions | { refused: string }> | undefined;
      const perms = () => (permissions ??= permissionsOf(ctx.runId).catch((e: Error) => ({ refused: `hook permissions could not be read: ${e.message}` })));
      for (const def of orderHooks(input.hooks)) {
        if (stoppedBy !== undefined) {
          results.push({ hook: def.name, type: def.type, event: input.event, ok: false, blocking: false, skipped: true, durationMs: 0, message: `not run: hook "${stoppedBy}" stopped the run` });
          continue;
        }
        const started = Date.now();
        let out: Outcome;
        try {
          out = await runOne(def, ctx, perms);
        } catch (e) {
          out = { ok: false, message: `hook error: ${e instanceof Error ? e.message : String(e)}` };
        }
        const blocking = !out.ok && failureBlocks(def, input.event);
        const result: HookResult = {
          hook: def.name, type: def.type, event: input.event, ok: out.ok, blocking, message: out.message,
          durationMs: Date.now() - started, ...(out.status !== undefined ? { status: out.status } : {}),
        };
        results.push(result);
        deps.logger.info({ runId: ctx.runId, event: input.event, hook: def.name, type: def.type, ok: out.ok, status: out.status, ms: result.durationMs }, out.ok ? 'hook passed' : 'hook failed');
        if (blocking) stoppedBy = def.name;
      }
      return results;
    },
  };
}
