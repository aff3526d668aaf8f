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
import { SESSION_COOKIE, SessionStore, bearerToken, grantCovers, readCookie, tokenChecker, type Grant } from './auth';
import { BadPayloadError, payloadsFromJson, payloadsToJson } from './payloads';

export type CodecServerConfig = Pick<
  Config<'codec'>,
  'CODEC_AUTH_TOKENS' | 'CODEC_CORS_ORIGINS' | 'CODEC_BODY_LIMIT_BYTES' | 'CODEC_SESSION_TTL_SECONDS'
>;

export interface CodecServerDeps {
  keyring: Pick<VaultKeyring, 'codec' | 'health'>;
  logger: Logger;
  /**
   * Checks a Stackly credential (API key or access token) against Postgres and returns who it is and
   * the namespaces of its accounts (common/credentials.ts credentialNamespaces); throws when it is not
   * valid. Without it only the platform tokens of CODEC_AUTH_TOKENS are accepted.
   */
  credentials?: (token: string) => Promise<{ name: string; namespaces: string[] }>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** What the caller may decode (set by the codec server's authentication). */
    codecGrant?: Grant;
  }
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
Paste a Stackly API key (it decodes its account's namespace) or a platform token of the codec server (CODEC_AUTH_TOKENS).</p>
<form method="post" action="login"><label>Token <input type="password" name="token" autocomplete="off" autofocus required></label>
<p><button type="submit">Sign in</button></p></form>`;

export async function buildCodecServer(cfg: CodecServerConfig, deps: CodecServerDeps): Promise<FastifyInstance> {
  const { keyring, logger } = deps;
  if (!cfg.CODEC_AUTH_TOKENS?.length && !deps.credentials) throw new Error('the codec server needs platform tokens (CODEC_AUTH_TOKENS) or Stackly credentials (DATABASE_URL)');
  const checkToken = tokenChecker(cfg.CODEC_AUTH_TOKENS ?? []);
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

  /**
   * What a credential may decode: a platform token every namespace; a Stackly credential the
   * namespaces of its accounts, read from Postgres now. A string is why it is refused.
   */
  async function grantOf(token: string | undefined): Promise<Grant | string> {
    if (!token) return 'invalid bearer token';
    if (checkToken(token)) return { who: 'platform token', namespaces: 'all' };
    if (!deps.credentials) return 'invalid bearer token';
    try {
      const c = await deps.credentials(token);
      return { who: c.name, namespaces: new Set(c.namespaces) };
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401 || status === 403) return (e as Error).message;
      throw e;
    }
  }

  /** 401 unless a valid bearer credential, or a valid session cookie from an allowed origin; sets req.codecGrant. */
  async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const g = await grantOf(bearerToken(header));
      if (typeof g !== 'string') {
        req.codecGrant = g;
        return;
      }
      req.log.warn('rejected: invalid bearer credential');
      return unauthorized(reply, g);
    }
    const sid = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (sid !== undefined) {
      const origin = req.headers.origin;
      const credential = sessions.credential(sid);
      if (credential !== undefined && origin !== undefined && allowedOrigins.has(origin)) {
        // Checked again with the session's credential: a revoked key or a removed member stops here.
        const g = await grantOf(credential);
        if (typeof g !== 'string') {
          req.codecGrant = g;
          return;
        }
        sessions.revoke(sid);
        req.log.warn('rejected: the session\'s credential is no longer valid');
        return unauthorized(reply, `session ended: ${g}; sign in again at /login`);
      }
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
    app.post(`/${op}`, { preHandler: authenticate }, async (req, reply) => {
      const namespace = namespaceOf(req);
      const grant = req.codecGrant!;
      if (!grantCovers(grant, namespace)) {
        // Another account's namespace: refused before its key is touched.
        req.log.warn({ namespace }, 'rejected: namespace of another account');
        return reply.code(403).send({ error: 'forbidden', message: `${grant.who} may not ${op} payloads of namespace ${namespace}: this credential may use only the namespaces of its accounts (${[...grant.namespaces].join(', ') || 'none'})` });
      }
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
    const grant = typeof token === 'string' ? await grantOf(token.trim()) : 'no token';
    if (typeof token !== 'string' || typeof grant === 'string') {
      req.log.warn('login rejected');
      return reply.code(401).headers(HTML_HEADERS).send(page('Stackly codec server', `<p><strong>Wrong token.</strong></p>${LOGIN_FORM}`));
    }
    const s = sessions.create(token.trim());
    const secure = req.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${SESSION_COOKIE}=${s.id}; Max-Age=${s.maxAgeSeconds}; Path=/; HttpOnly; SameSite=Strict${secure}`);
    req.log.info('browser session created');
    return reply.headers(HTML_HEADERS).send(page('Signed in', `<p id="signed-in">This browser may now decode payloads of ${grant.namespaces === 'all' ? 'every namespace' : `the namespaces ${[...grant.namespaces].join(', ') || '(none)'}`} in the Temporal Web UI for ${Math.round(s.maxAgeSeconds / 3600)} hours.
In the Web UI's codec server settings, turn on <em>Include cross-origin credentials</em>.</p>`));
  });

  app.post('/logout', async (req, reply) => {
    sessions.revoke(readCookie(req.headers.cookie, SESSION_COOKIE));
    reply.header('set-cookie', `${SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict`);
    return reply.headers(HTML_HEADERS).send(page('Signed out', '<p>This browser is signed out.</p>'));
  });

  return app;
}
