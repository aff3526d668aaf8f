/**
 * The codec server: the Temporal codec server protocol (`POST /encode`, `POST /decode`) over the
 * project's Vault Transit codec, for the Web UI (from the browser, CORS) and `temporal --codec-endpoint`.
 *
 * Never logs a payload, a plaintext, a data key or a token: request logs carry method, url and status
 * only, and error bodies name the payload index and the namespace, not the content.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import type { Config } from '../common/config';
import { CodecError, type VaultKeyring } from '../common/codec';
import { SESSION_COOKIE, SessionStore, bearerToken, readCookie, tokenChecker } from './auth';
import { BadPayloadError, payloadsFromJson, payloadsToJson } from './payloads';

export type CodecServerConfig = Pick<
  Config<'codec'>,
  'CODEC_AUTH_TOKENS' | 'CODEC_CORS_ORIGINS' | 'CODEC_BODY_LIMIT_BYTES' | 'CODEC_SESSION_TTL_SECONDS'
>;

export interface CodecServerDeps {
  keyring: Pick<VaultKeyring, 'codec' | 'health'>;
  logger: Logger;
}

/** Temporal namespace names: letters, digits, `.`, `_`, `-`. */
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

const STATUS_OF: Record<CodecError['code'], number> = {
  namespace_key_missing: 404,
  payload_invalid: 400,
  vault_unavailable: 503,
  vault_error: 502,
};

const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:3rem auto}input{width:100%;padding:.4rem}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;
}

const LOGIN_FORM = `<p>Sign this browser in to the Stackly codec server, so the Temporal Web UI can decode payloads.
Paste one of the codec server's tokens (CODEC_AUTH_TOKENS).</p>
<form method="post" action="login"><label>Token <input type="password" name="token" autocomplete="off" autofocus required></label>
<p><button type="submit">Sign in</button></p></form>`;

export async function buildCodecServer(cfg: CodecServerConfig, deps: CodecServerDeps): Promise<FastifyInstance> {
  const { keyring, logger } = deps;
  const checkToken = tokenChecker(cfg.CODEC_AUTH_TOKENS);
  const sessions = new SessionStore(cfg.CODEC_SESSION_TTL_SECONDS * 1000);
  const allowedOrigins = new Set(cfg.CODEC_CORS_ORIGINS);

  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, bodyLimit: cfg.CODEC_BODY_LIMIT_BYTES, trustProxy: false });

  await app.register(cors, {
    // Exact origins only; credentials allowed so the Web UI can send the session cookie.
    origin: cfg.CODEC_CORS_ORIGINS.length ? [...cfg.CODEC_CORS_ORIGINS] : false,
    credentials: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Namespace'],
    maxAge: 600,
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof BadPayloadError) {
      req.log.warn({ payloadIndex: err.payloadIndex }, 'bad payload in request');
      return reply.code(400).send({ error: 'payload_invalid', message: err.message, payloadIndex: err.payloadIndex });
    }
    if (err instanceof CodecError) {
      const status = STATUS_OF[err.code];
      req.log.warn({ code: err.code, payloadIndex: err.payloadIndex, namespace: err.namespace }, 'codec error');
      return reply.code(status).send({ error: err.code, message: err.message, payloadIndex: err.payloadIndex });
    }
    const status = err.statusCode ?? 500;
    if (status === 413) {
      return reply.code(413).send({ error: 'payload_too_large', message: `request body exceeds ${cfg.CODEC_BODY_LIMIT_BYTES} bytes` });
    }
    if (status === 415) return reply.code(415).send({ error: 'unsupported_media_type', message: 'send Content-Type: application/json' });
    if (status >= 400 && status < 500) {
      // Parser messages can quote the body (V8's JSON errors do): answer with a fixed text.
      req.log.warn({ code: err.code }, 'bad request');
      return reply.code(status).send({ error: 'bad_request', message: 'request body is not valid JSON' });
    }
    req.log.error({ code: err.code, name: err.name }, 'unexpected error');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  /** 401 unless a valid bearer token, or a valid session cookie from an allowed origin. */
  async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      if (checkToken(bearerToken(header))) return;
      req.log.warn('rejected: invalid bearer token');
      return unauthorized(reply, 'invalid bearer token');
    }
    const sid = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (sid !== undefined) {
      const origin = req.headers.origin;
      if (sessions.valid(sid) && origin !== undefined && allowedOrigins.has(origin)) return;
      req.log.warn('rejected: session cookie expired or from a disallowed origin');
      return unauthorized(reply, 'session expired or origin not allowed: sign in again at /login');
    }
    req.log.warn('rejected: no credentials');
    return unauthorized(reply, 'missing credentials: send Authorization: Bearer <token>, or sign this browser in at /login');
  }

  function unauthorized(reply: FastifyReply, message: string) {
    return reply.code(401).header('www-authenticate', 'Bearer realm="stackly-codec"').send({ error: 'unauthorized', message });
  }

  function namespaceOf(req: FastifyRequest): string {
    const ns = req.headers['x-namespace'];
    if (typeof ns !== 'string' || ns === '') {
      throw new BadPayloadError(undefined, 'the X-Namespace header is required (with the temporal CLI, pass -n NAMESPACE explicitly)');
    }
    if (!NAMESPACE.test(ns)) throw new BadPayloadError(undefined, 'the X-Namespace header is not a valid namespace name');
    return ns;
  }

  for (const op of ['encode', 'decode'] as const) {
    app.post(`/${op}`, { preHandler: authenticate }, async (req) => {
      const namespace = namespaceOf(req);
      const payloads = payloadsFromJson(req.body);
      const codec = keyring.codec(namespace);
      const out = op === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
      req.log.info({ namespace, count: payloads.length }, `${op}d payloads`);
      return payloadsToJson(out);
    });
  }

  app.get('/health', async (_req, reply) => {
    const h = await keyring.health();
    return h.ok ? reply.send({ status: 'ok' }) : reply.code(503).send({ status: 'unavailable', reason: h.reason });
  });

  app.get('/login', async (_req, reply) => reply.headers(HTML_HEADERS).send(page('Stackly codec server', LOGIN_FORM)));

  app.post('/login', async (req, reply) => {
    const token = (req.body as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || !checkToken(token)) {
      req.log.warn('login rejected');
      return reply.code(401).headers(HTML_HEADERS).send(page('Stackly codec server', `<p><strong>Wrong token.</strong></p>${LOGIN_FORM}`));
    }
    const s = sessions.create();
    const secure = req.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${SESSION_COOKIE}=${s.id}; Max-Age=${s.maxAgeSeconds}; Path=/; HttpOnly; SameSite=Strict${secure}`);
    req.log.info('browser session created');
    return reply.headers(HTML_HEADERS).send(page('Signed in', `<p id="signed-in">This browser may now decode payloads in the Temporal Web UI for ${Math.round(s.maxAgeSeconds / 3600)} hours.
In the Web UI's codec server settings, turn on <em>Include cross-origin credentials</em>.</p>`));
  });

  app.post('/logout', async (req, reply) => {
    sessions.revoke(readCookie(req.headers.cookie, SESSION_COOKIE));
    reply.header('set-cookie', `${SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict`);
    return reply.headers(HTML_HEADERS).send(page('Signed out', '<p>This browser is signed out.</p>'));
  });

  return app;
}
