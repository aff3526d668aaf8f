/**
 * Public routes of signing in (api/auth/sign-in.ts, sessions.ts): no bearer token, the credential is
 * the provider's code, the command line's poll secret or the refresh token. Without
 * AUTH_SIGNING_KEYS every one answers 404 `sign_in_not_configured`.
 *
 *   GET  /auth/login?provider=oidc|github[&cli=<hash>]  302 to the identity provider
 *   GET  /auth/callback                                 tokens (JSON, or a page for a browser)
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
    if (!wantsHtml(req)) return noStore(reply).send({ status: 'signed_in', cli: true, user: who });
    return page(reply, 200, 'Signed in', `<p>Signed in as <b>${escapeHtml(r.user.login)}</b>. Go back to the command line: it has its tokens. You may close this window.</p>`);
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
    const url = await signIn().begin({ ...(provider !== undefined ? { provider } : {}), ...(cli !== undefined ? { cli } : {}) });
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
