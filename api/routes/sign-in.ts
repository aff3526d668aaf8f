/**
 * Public routes of signing in (api/auth/sign-in.ts, sessions.ts): no bearer token, the credential is
 * the provider's code, the command line's poll secret or the refresh token. Without
 * AUTH_SIGNING_KEYS every one answers 404 `sign_in_not_configured`.
 *
 *   GET  /auth/login?provider=oidc|github[&cli=<hash>]  302 to the identity provider
 *   GET  /auth/callback                                 tokens (JSON, or a page for a browser)
 *   POST /auth/cli/confirm {state, code}                 the browser confirms a command line's sign-in
 *   POST /auth/cli/poll {poll_secret}                    202 pending / 200 the command line's tokens
 *   POST /auth/token {refresh_token}                     a new pair; the old refresh token is used up
 *   POST /auth/logout {refresh_token}                    204; the sign-in is revoked
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CallbackResult } from '../auth/sign-in';
import type { RouteContext } from '../context';
import { ApiError } from '../errors';
import { parseBody } from '../validation';

const RefreshBody = z.strictObject({ refresh_token: z.string().min(1) });
const PollBody = z.strictObject({ poll_secret: z.string().min(1) });
const ConfirmBody = z.strictObject({ state: z.string().min(1).max(200), code: z.string().min(1).max(40) });

export const CLI_CODE_HEADER = 'x-stackly-login-code';
/** The cookie binding a command line's sign-in to the browser that finished it (sign-in.ts confirm()). */
const CLI_COOKIE = 'stackly_cli_confirm';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Nothing of these answers may be cached or leak through a Referer. */
function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').header('referrer-policy', 'no-referrer');
}

const wantsHtml = (req: FastifyRequest) => /text\/html/.test(String(req.headers.accept ?? ''));

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return noStore(reply).status(status).type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`
      + '<style>body{font-family:sans-serif;max-width:46em;margin:3em auto}pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.6em}</style>'
      + `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

function callbackAnswer(req: FastifyRequest, reply: FastifyReply, r: CallbackResult): FastifyReply {
  const who = { id: r.user.id, login: r.user.login, provider: r.user.provider, groups: r.groups };
  if (r.kind === 'cli') {
    const secure = req.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${CLI_COOKIE}=${r.browserToken}; Path=/auth/cli; HttpOnly; SameSite=Lax; Max-Age=600${secure}`);
    if (!wantsHtml(req)) return noStore(reply).send({ status: 'confirm', cli: true, user: who, confirm: { url: '/auth/cli/confirm', state: r.state } });
    return page(reply, 200, 'Confirm the command line\'s sign-in',
      `<p>Signed in as <b>${escapeHtml(r.user.login)}</b> for a command line. Type the code your terminal shows after <code>stackly login</code>.</p>`
      + '<p>If you did not run <code>stackly login</code> yourself just now, stop here: someone sent you this link to get your access.</p>'
      + `<form method="post" action="/auth/cli/confirm"><input type="hidden" name="state" value="${escapeHtml(r.state)}">`
      + '<input name="code" autocomplete="off" autofocus placeholder="XXXX-XXXX" size="12"> <button type="submit">Confirm</button></form>');
  }
  if (!wantsHtml(req)) return noStore(reply).send({ ...r.tokens, user: who });
  return page(reply, 200, 'Signed in',
    `<p>Signed in as <b>${escapeHtml(r.user.login)}</b>. Send the access token as <code>Authorization: Bearer …</code>; `
    + `it is good for ${Math.round(r.tokens.expires_in / 60)} minutes. <code>POST /auth/token</code> with the refresh token gives a new pair (once per refresh token).</p>`
    + `<h2>Access token</h2><pre>${escapeHtml(r.tokens.access_token)}</pre><h2>Refresh token</h2><pre>${escapeHtml(r.tokens.refresh_token)}</pre>`
    + '<p>The command line signs in by itself: <code>stackly login</code>.</p>');
}

export async function signInRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const signIn = () => {
    if (!ctx.signIn) throw new ApiError(404, 'sign_in_not_configured', 'signing in is not configured on this api (AUTH_SIGNING_KEYS)');
    return ctx.signIn;
  };
  const one = (v: unknown, name: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ApiError(400, 'invalid_request', `${name}: give it once`);
    return v;
  };

  app.get('/auth/login', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const provider = one(q.provider, 'provider');
    const cli = one(q.cli, 'cli');
    const { url, cliCode } = await signIn().begin({ ...(provider !== undefined ? { provider } : {}), ...(cli !== undefined ? { cli } : {}) });
    // A command line starts its own sign-in and shows this code, which the browser must type.
    if (cliCode) reply.header(CLI_CODE_HEADER, cliCode);
    return noStore(reply).redirect(url.href, 302);
  });

  // Fastify's request log line carries the URL, here with the provider's code: not logged (warn and up only).
  app.get('/auth/callback', { logLevel: 'warn' }, async (req, reply) => {
    const s = signIn();
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    try {
      return callbackAnswer(req, reply, await s.complete(query));
    } catch (e) {
      if (e instanceof ApiError && wantsHtml(req)) return page(reply, e.statusCode, 'Sign-in failed', `<p>${escapeHtml(e.message)}</p>`);
      throw e;
    }
  });

  // The confirmation form posts as a browser does (application/x-www-form-urlencoded).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.post('/auth/cli/confirm', async (req, reply) => {
    const body = parseBody(ConfirmBody, req.body);
    const cookie = /(?:^|;\s*)stackly_cli_confirm=([A-Za-z0-9_-]+)/.exec(String(req.headers.cookie ?? ''))?.[1];
    try {
      const user = await signIn().confirm(body.state, cookie, body.code);
      reply.header('set-cookie', `${CLI_COOKIE}=; Path=/auth/cli; HttpOnly; SameSite=Lax; Max-Age=0`);
      if (!wantsHtml(req)) return noStore(reply).send({ status: 'confirmed', login: user.login });
      return page(reply, 200, 'Signed in', `<p>Signed in as <b>${escapeHtml(user.login)}</b>. Go back to the command line: it has its tokens. You may close this window.</p>`);
    } catch (e) {
      if (e instanceof ApiError && wantsHtml(req)) return page(reply, e.statusCode, 'Not confirmed', `<p>${escapeHtml(e.message)}</p>`);
      throw e;
    }
  });

  app.post('/auth/cli/poll', async (req, reply) => {
    const body = parseBody(PollBody, req.body);
    const r = await signIn().poll(body.poll_secret);
    if (r.status === 'pending') return noStore(reply).status(202).send(r);
    return noStore(reply).send({ ...r.tokens, login: r.login });
  });

  app.post('/auth/token', async (req, reply) => {
    const body = parseBody(RefreshBody, req.body);
    return noStore(reply).send(await signIn().sessions.refresh(body.refresh_token));
  });

  app.post('/auth/logout', async (req, reply) => {
    const body = parseBody(RefreshBody, req.body);
    await signIn().sessions.logout(body.refresh_token);
    return noStore(reply).status(204).send();
  });
}
