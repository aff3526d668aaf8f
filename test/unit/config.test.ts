import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../common/config';

describe('config', () => {
  it('names a missing required variable', () => {
    assert.throws(() => loadConfig('worker', { WORKER_KIND: 'control' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /DATABASE_URL is required but not set/);
      return true;
    });
  });

  it('names a bad variable and says why', () => {
    assert.throws(
      () => loadConfig('api', { DATABASE_URL: 'postgres://x@h/db', API_PORT: 'eighty' }),
      /API_PORT is invalid/,
    );
    assert.throws(
      () => loadConfig('worker', { DATABASE_URL: 'postgres://x@h/db', WORKER_KIND: 'execution', WORKER_LABELS: 'region' }),
      /WORKER_LABELS is invalid: expected key=value, got "region"/,
    );
  });

  it("reads the api's rate limits (0 = off, defaults 600/3000/600) and whom to trust as a proxy", () => {
    const base = { DATABASE_URL: 'postgres://x@h/db', GITHUB_WEBHOOK_SECRET: 'a'.repeat(16), VAULT_TOKEN: 't' };
    const d = loadConfig('api', base);
    assert.deepEqual([d.RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE, d.RATE_LIMIT_PER_ACCOUNT_PER_MINUTE, d.RATE_LIMIT_PER_IP_PER_MINUTE, d.API_TRUST_PROXY], [600, 3000, 600, undefined]);
    const c = loadConfig('api', { ...base, RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '0', RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: '50', API_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' });
    assert.deepEqual([c.RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE, c.RATE_LIMIT_PER_ACCOUNT_PER_MINUTE, c.API_TRUST_PROXY], [0, 50, ['10.0.0.0/8', '127.0.0.1']]);
    assert.equal(loadConfig('api', { ...base, API_TRUST_PROXY: 'true' }).API_TRUST_PROXY, true);
    assert.throws(() => loadConfig('api', { ...base, RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: '-1' }), /RATE_LIMIT_PER_ACCOUNT_PER_MINUTE is invalid/);
    assert.throws(() => loadConfig('api', { ...base, RATE_LIMIT_PER_IP_PER_MINUTE: 'lots' }), /RATE_LIMIT_PER_IP_PER_MINUTE is invalid/);
  });

  it('refuses to run the codec server without a way to check credentials (platform tokens or Postgres)', () => {
    assert.throws(() => loadConfig('codec', { VAULT_TOKEN: 't' }), /CODEC_AUTH_TOKENS or DATABASE_URL is required/);
    assert.equal(loadConfig('codec', { VAULT_TOKEN: 't', DATABASE_URL: 'postgres://x@h/db' }).CODEC_AUTH_TOKENS, undefined);
    assert.throws(() => loadConfig('codec', { VAULT_TOKEN: 't', CODEC_AUTH_TOKENS: 'short' }), /CODEC_AUTH_TOKENS is invalid/);
  });

  it('applies defaults, treats empty as unset, and freezes the result', () => {
    const c = loadConfig('worker', {
      DATABASE_URL: 'postgres://x@h/db', VAULT_TOKEN: 'dev-token', WORKER_KIND: 'execution',
      WORKER_LABELS: 'env=prod, region=eu', S3_BUCKET: '',
    });
    assert.deepEqual(c.WORKER_LABELS, { env: 'prod', region: 'eu' });
    assert.deepEqual(c.WORKER_FEATURES, ['terraform']);
    assert.equal(c.S3_BUCKET, 'stackly');
    assert.equal(c.TEMPORAL_ADDRESS, '127.0.0.1:7233');
    assert.ok(Object.isFrozen(c));
  });

  it("gathers the worker's STACKLY_HOOK_* variables into one frozen record, and names one no hook could use", () => {
    const base = { DATABASE_URL: 'postgres://x@h/db', VAULT_TOKEN: 't', WORKER_KIND: 'control' };
    const c = loadConfig('worker', { ...base, STACKLY_HOOK_SECRET_SLACK: 'k', STACKLY_HOOK_URL: '', VAULT_ADDR: 'http://v:8200' });
    assert.deepEqual(c['STACKLY_HOOK_*'], { STACKLY_HOOK_SECRET_SLACK: 'k' });
    assert.ok(Object.isFrozen(c['STACKLY_HOOK_*']));
    assert.deepEqual(loadConfig('worker', base)['STACKLY_HOOK_*'], {});
    assert.throws(() => loadConfig('worker', { ...base, STACKLY_HOOK_slack: 'k' }), /STACKLY_HOOK_slack is invalid: must match/);
  });

  it("reads the CLI's API connection, leaving its checks to the command that uses it", () => {
    assert.deepEqual(loadConfig('cli', { STACKLY_API_URL: 'http://h:1', STACKLY_API_TOKEN: 't', DATABASE_URL: 'x' }), { STACKLY_API_URL: 'http://h:1', STACKLY_API_TOKEN: 't' });
    assert.deepEqual(loadConfig('cli', { STACKLY_API_TOKEN: '' }), {});
  });
});
