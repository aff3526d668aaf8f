/**
 * One config module for every process. Each process calls its loader once at start-up; the result is
 * validated, frozen and injected. A missing or bad variable stops start-up with its name.
 * Nothing else in the product reads process.env (common/README.md lists the exceptions and why).
 */
import { z } from 'zod';
import { HOOK_ENV_NAME } from '../policies/hooks';
import { signingKeysSchema } from './signing-keys';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const port = z.coerce.number().int().min(0).max(65535);
const url = z.string().url();
const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
/** `k=v,k2=v2` → record. */
const labels = z.string().transform((s, ctx) => {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected key=value, got "${part}"` });
      return z.NEVER;
    }
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
});
/** A rate limit: a whole number of requests, 0 meaning no limit. */
const perMinute = z.coerce.number().int().min(0).max(1_000_000);
/** Fastify's trustProxy: `true`/`false`, or a comma-separated list of proxy addresses or CIDRs. */
const trustProxy = z.string().transform((s): boolean | string[] => {
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  return s.split(',').map((x) => x.trim()).filter(Boolean);
});
/** `<first>-<last>` uids (1000 ≤ first ≤ last < 2^32-1). */
const uidRange = z.string().transform((s, ctx) => {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(s);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1000 || first > last || last > 4_294_967_294) {
    ctx.addIssue({ code: 'custom', message: `expected <first>-<last> with 1000 <= first <= last (e.g. 200000-200999), got "${s}"` });
    return z.NEVER;
  }
  return { first, last };
});
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/**
 * A schema key ending in `*` stands for every variable whose name starts with what precedes it,
 * gathered into one record (`STACKLY_HOOK_*`: the names are chosen by repositories' hook blocks, so
 * they cannot be listed here).
 */
const PREFIXED = '*';
/** Hooks' secret_env / url_env values: only names a hook block can give (policies/validate.ts). */
const hookVariables = z.record(z.string(), z.string()).superRefine((vars, c) => {
  for (const name of Object.keys(vars)) {
    if (!HOOK_ENV_NAME.test(name)) c.addIssue({ code: 'custom', path: [name], message: `must match ${HOOK_ENV_NAME.source} to be usable by a hook` });
  }
}).transform((vars): Readonly<Record<string, string>> => Object.freeze({ ...vars }));

const ROLE_NAMES = ['viewer', 'operator', 'approver', 'admin'] as const;
/** A JSON value of a variable, then checked by `schema`. */
const jsonOf = <S extends z.ZodType>(schema: S, expected: string) => z.string().transform((s, ctx): z.output<S> => {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not JSON (expected ${expected})` });
    return z.NEVER;
  }
  const r = schema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0]!;
    ctx.addIssue({ code: 'custom', message: `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message} (expected ${expected})` });
    return z.NEVER;
  }
  return r.data;
});
/**
 * Which identity-provider group gives which role in which account, applied at every sign-in: the
 * highest role of the matching entries; `provider` limits an entry to one provider's groups.
 */
const roleMappings = jsonOf(
  z.array(z.strictObject({
    group: z.string().min(1), account: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), role: z.enum(ROLE_NAMES),
    provider: z.enum(['oidc', 'github']).optional(),
  })),
  '[{"group":"…","account":"…","role":"viewer|operator|approver|admin"}]',
);

/**
 * Sign-in (api/auth/): access tokens signed with AUTH_SIGNING_KEYS, refresh tokens, and the
 * identity providers. Without AUTH_SIGNING_KEYS only API keys authenticate; a provider is on when
 * its client id is set (its secret is then required).
 */
const auth = {
  AUTH_SIGNING_KEYS: signingKeysSchema.optional(),
  AUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(900),
  /** How long a sign-in lasts: refresh tokens rotate, but never beyond this from the sign-in. */
  AUTH_SESSION_TTL_SECONDS: z.coerce.number().int().min(300).max(90 * 86400).default(7 * 86400),
  /** The api's address as browsers and identity providers reach it (redirect URI `<url>/auth/callback`); default the listen address. */
  API_PUBLIC_URL: url.optional(),
  AUTH_OIDC_ISSUER: url.optional(),
  AUTH_OIDC_CLIENT_ID: z.string().min(1).optional(),
  AUTH_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  AUTH_OIDC_SCOPES: z.string().min(1).default('openid profile email'),
  /** The ID token / userinfo claim holding the user's groups. */
  AUTH_OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  AUTH_GITHUB_CLIENT_ID: z.string().min(1).optional(),
  AUTH_GITHUB_CLIENT_SECRET: z.string().min(1).optional(),
  /** github.com, or a GitHub Enterprise Server (`https://ghe.example.com`); the OAuth endpoints are under it. */
  AUTH_GITHUB_URL: url.default('https://github.com'),
  /** GitHub's REST API (`https://ghe.example.com/api/v3` for Enterprise Server). */
  AUTH_GITHUB_API_URL: url.default('https://api.github.com'),
  AUTH_ROLE_MAPPINGS: roleMappings.default([]),
  /** The role a signed-in user gets in the api's account (STACKLY_ACCOUNT) when no mapping gives them any account. */
  AUTH_DEFAULT_ROLE: z.enum(ROLE_NAMES).optional(),
};

const shared = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  STACKLY_ACCOUNT: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default('default'),
};
const database = { DATABASE_URL: url };
const temporal = {
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('stackly'),
};
const vault = {
  VAULT_ADDR: url.default('http://127.0.0.1:8200'),
  VAULT_TOKEN: z.string().min(1),
  VAULT_TRANSIT_MOUNT: z.string().regex(/^[A-Za-z0-9_\-/]+$/).default('transit'),
};
const s3 = {
  S3_ENDPOINT: url.optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).default('stackly'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
};

const schemas = {
  api: z.object({
    ...shared, ...database, ...temporal,
    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(8080),
    API_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(25 * 1024 * 1024),
    /** The global webhook secret: verifies deliveries only with WEBHOOK_GLOBAL_SECRET_ALLOWED (else every repository has its own). Required: the receiver never runs open. */
    GITHUB_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters'),
    /** Development only (scripts/dev): repositories may be registered without their own webhook secret, and GITHUB_WEBHOOK_SECRET verifies their deliveries. */
    WEBHOOK_GLOBAL_SECRET_ALLOWED: bool.default(false),
    /** Postgres schema (tests run each suite in its own). */
    DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
    /** Vault Transit: the payload codec of every workflow the api starts, and repository secrets at rest. */
    ...vault,
    VAULT_SECRETS_KEY: z.string().regex(/^[A-Za-z0-9_-]+$/).default('stackly-secrets'),
    /** Optional: the bucket of the state locks, for POST /api/states/:id/unlock (503 without keys). */
    ...s3,
    /** Rate limits (api/rate-limit.ts), requests a minute counted in Postgres across api instances; 0 = off. */
    RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: perMinute.default(600),
    RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: perMinute.default(3000),
    /** Requests without a valid credential, and to public routes other than the webhook receiver, per client address. */
    RATE_LIMIT_PER_IP_PER_MINUTE: perMinute.default(600),
    /** Behind a proxy: `true` (trust X-Forwarded-For from anyone) or the proxies' addresses/CIDRs; default off. */
    API_TRUST_PROXY: trustProxy.optional(),
    ...auth,
  }).superRefine((c, ctx) => {
    const need = (when: boolean, key: string, why: string) => {
      if (when && c[key as keyof typeof c] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required ${why}` });
    };
    need(!!c.AUTH_OIDC_CLIENT_ID, 'AUTH_OIDC_ISSUER', 'with AUTH_OIDC_CLIENT_ID');
    need(!!c.AUTH_OIDC_CLIENT_ID, 'AUTH_OIDC_CLIENT_SECRET', 'with AUTH_OIDC_CLIENT_ID');
    need(!!c.AUTH_GITHUB_CLIENT_ID, 'AUTH_GITHUB_CLIENT_SECRET', 'with AUTH_GITHUB_CLIENT_ID');
    need(!!(c.AUTH_OIDC_CLIENT_ID || c.AUTH_GITHUB_CLIENT_ID), 'AUTH_SIGNING_KEYS', 'when a sign-in provider is configured');
  }),
  codec: z.object({
    ...shared, ...vault,
    CODEC_HOST: z.string().default('127.0.0.1'),
    CODEC_PORT: port.default(8081),
    /**
     * Platform tokens accepted on /encode and /decode for every namespace (operators, the dev stack's
     * Web UI login). Optional when DATABASE_URL is set: Stackly API keys then decode their accounts'
     * namespaces only. One of the two is required: the codec server never runs open.
     */
    CODEC_AUTH_TOKENS: csv.pipe(z.array(z.string().min(16, 'each token must be at least 16 characters')).min(1, 'at least one token is required')).optional(),
    /** Postgres, where Stackly credentials (API keys, users' memberships) are checked. */
    DATABASE_URL: url.optional(),
    DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
    CODEC_CORS_ORIGINS: csv.default([]),
    /** Largest accepted request body; bigger requests get 413. */
    CODEC_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(8 * 1024 * 1024),
    /** Lifetime of a Web UI session cookie made by the codec server's /login page. */
    CODEC_SESSION_TTL_SECONDS: z.coerce.number().int().positive().max(7 * 24 * 3600).default(12 * 3600),
  }).superRefine((c, ctx) => {
    if (!c.CODEC_AUTH_TOKENS && !c.DATABASE_URL) ctx.addIssue({ code: 'custom', path: ['CODEC_AUTH_TOKENS or DATABASE_URL'], message: 'one is required' });
  }),
  worker: z.object({
    ...shared, ...database, ...temporal, ...s3, ...vault,
    /** Transit key of secrets at rest (clone credentials the control worker's git fetches need). */
    VAULT_SECRETS_KEY: z.string().regex(/^[A-Za-z0-9_-]+$/).default('stackly-secrets'),
    /** Postgres schema (tests run each suite in its own). */
    DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
    WORKER_KIND: z.enum(['control', 'execution']),
    WORKER_ID: z.string().min(1).optional(),
    WORKER_FEATURES: csv.default(['terraform']),
    WORKER_LABELS: labels.default({}),
    WORKER_VERSION: z.string().default('0.1.0'),
    WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(4),
    TF_BINARY: z.string().min(1).default('tofu'),
    STACKLY_WORK_DIR: z.string().min(1).optional(),
    /**
     * Execution workers: `uid` (default) runs each tofu job as a uid of its own from
     * EXECUTION_UID_RANGE (the worker must be root; it refuses to run tofu otherwise); `none` runs tofu
     * as the worker's own user, where stack code can read the worker's secrets (development only).
     */
    EXECUTION_ISOLATION: z.enum(['uid', 'none']).default('uid'),
    /** uids (and gids) of tofu jobs, `<first>-<last>`: one per running job; no account of the machine may use them. */
    EXECUTION_UID_RANGE: uidRange.default({ first: 200000, last: 200999 }),
    /** Where job directories live (0711, every ancestor searchable by others); default `<tmpdir>/stackly-sandbox-<range>`. */
    EXECUTION_SANDBOX_DIR: z.string().min(1).optional(),
    /** A provider mirror (tofu `filesystem_mirror` layout) jobs read providers from; not writable by them. */
    TF_PROVIDER_MIRROR: z.string().min(1).optional(),
    /** STS endpoint minting per-unit state credentials (default S3_ENDPOINT, as MinIO serves STS). */
    S3_STS_ENDPOINT: url.optional(),
    /** Role assumed for per-unit state credentials (AWS: a role allowing the bucket; MinIO ignores it). */
    S3_STATE_ROLE_ARN: z.string().min(1).optional(),
    /** Lifetime of per-unit state credentials: a tofu run longer than this cannot write its state (default: the 2 h limit of a tofu activity; AWS: at most the role's maximum session duration). */
    STATE_CREDENTIALS_SECONDS: z.coerce.number().int().min(900).max(43200).default(7200),
    /** How often the worker looks for accounts made since (a new account's namespace gets its own Temporal worker). */
    WORKER_NAMESPACES_REFRESH_SECONDS: z.coerce.number().positive().max(3600).default(15),
    /** HMAC keys and secret URLs of webhook hooks (control worker), by the names hooks give. */
    'STACKLY_HOOK_*': hookVariables,
    /** The api as users reach it: GitHub commit statuses link to `<url>/api/runs/<run id>` (control worker; none without it). */
    STACKLY_PUBLIC_URL: url.optional(),
    /** How often the control worker looks for GitHub statuses and comments to post when idle. */
    GITHUB_NOTIFIER_POLL_SECONDS: z.coerce.number().positive().max(300).default(2),
  }),
  migrate: z.object({ ...shared, ...database, ...s3, DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional() }),
  /**
   * The `stackly` CLI's REST connection. Checked where it is used (cli/api-client.ts): a flag given
   * on the command line wins over these, and the graph and policy commands need none of them.
   */
  cli: z.object({
    STACKLY_API_URL: z.string().optional(),
    STACKLY_API_TOKEN: z.string().optional(),
    /** Where the dev stack keeps its files (the api token): `.stackly` of the working directory by default. */
    STACKLY_STATE_DIR: z.string().optional(),
    /** `stackly login` keeps its tokens in `$XDG_CONFIG_HOME/stackly/credentials.json` (default `~/.config`). */
    XDG_CONFIG_HOME: z.string().optional(),
  }),
} as const;

export type ProcessName = keyof typeof schemas;
export type Config<P extends ProcessName> = Readonly<z.output<(typeof schemas)[P]>>;

/** Validates `env` for process `name`. Empty strings count as unset, so `X=` falls back to the default. */
export function loadConfig<P extends ProcessName>(name: P, env: Env = process.env): Config<P> {
  const cleaned: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const input: Record<string, unknown> = { ...cleaned };
  for (const key of Object.keys(schemas[name].shape)) {
    if (!key.endsWith(PREFIXED)) continue;
    const prefix = key.slice(0, -PREFIXED.length);
    input[key] = Object.fromEntries(Object.entries(cleaned).filter(([k]) => k.startsWith(prefix)));
  }
  const result = (schemas[name] as z.ZodType).safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      // A prefixed record's issue is about one of its variables: name that one.
      const key = String((String(i.path[0]).endsWith(PREFIXED) ? i.path[1] : i.path[0]) ?? '?');
      const missing = cleaned[key] === undefined;
      return missing ? `${key} is required but not set` : `${key} is invalid: ${i.message}`;
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(result.data) as Config<P>;
}

/** For entry points: load, or print the problem and exit 2. */
export function loadConfigOrExit<P extends ProcessName>(name: P, env: Env = process.env): Config<P> {
  try {
    return loadConfig(name, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`stackly ${name}: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

let host: Readonly<Record<string, string | undefined>> | undefined;

/**
 * The environment this process was started with, read once, for the few places that build a child
 * process's environment from a short list of harmless variables of it (PATH, HOME, TMPDIR, locale,
 * CA bundle, proxies: tofu and git on execution workers). Nothing reads secrets from it: those come
 * from the validated config.
 */
export function hostEnvironment(): Readonly<Record<string, string | undefined>> {
  host ??= Object.freeze({ ...process.env });
  return host;
}
