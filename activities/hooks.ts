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
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
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
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const cause = err?.cause?.code ?? err?.cause?.message;
  return `request failed: ${cause ?? err?.message ?? String(e)}`;
}

export function createHookActivities(deps: HookDeps): HookActivities {
  const { env } = deps;

  async function sendWebhook(def: WebhookHook, ctx: HookRunContext): Promise<Outcome> {
    // Names of variables may appear in messages; their values never do.
    const secret = env[def.secretEnv];
    if (!secret) return { ok: false, message: `${def.secretEnv} (the HMAC key of hook "${def.name}") is not set on the control worker` };
    const url = def.url ?? (def.urlEnv !== undefined ? env[def.urlEnv] : undefined);
    const where = def.url !== undefined ? new URL(def.url).host : `the URL in ${def.urlEnv}`;
    if (!url) return { ok: false, message: `${def.urlEnv} (the URL of hook "${def.name}") is not set on the control worker` };
    if (!/^https?:\/\//i.test(url)) return { ok: false, message: `${where} is not an http(s) URL` };

    const body = JSON.stringify(webhookBody(def.name, ctx, new Date().toISOString()));
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'x-stackly-event': ctx.event,
          'x-stackly-hook': def.name,
          'x-stackly-delivery': hookDeliveryId(ctx, def.name),
          [SIGNATURE_HEADER.toLowerCase()]: signBody(secret, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(def.timeoutMs),
      });
      const text = await res.text().catch(() => '');
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, message: `POST to ${where}: HTTP ${res.status}` };
      const extra = snippet(text);
      return { ok: false, status: res.status, message: `POST to ${where}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${extra ? `: ${extra}` : ''}` };
    } catch (e) {
      return { ok: false, message: `POST to ${where}: ${describeFetchError(e, def.timeoutMs)}` };
    }
  }

  async function runOne(def: HookDefinition, ctx: HookRunContext): Promise<Outcome> {
    if (def.type === 'webhook') return sendWebhook(def, ctx);
    return runBuiltinHook(def, ctx);
  }

  return {
    async runHooks(input: RunHooksInput): Promise<HookResult[]> {
      const ctx: HookRunContext = { ...input.context, event: input.event };
      const results: HookResult[] = [];
      let stoppedBy: string | undefined;
      for (const def of orderHooks(input.hooks)) {
        if (stoppedBy !== undefined) {
          results.push({ hook: def.name, type: def.type, event: input.event, ok: false, blocking: false, skipped: true, durationMs: 0, message: `not run: hook "${stoppedBy}" stopped the run` });
          continue;
        }
        const started = Date.now();
        let out: Outcome;
        try {
          out = await runOne(def, ctx);
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
