/** The pure parts of the rate limits (api/rate-limit.ts): time left in a window, Retry-After, which limit answers, the message. */
import assert from 'node:assert/strict';
import { openapi } from '../../api/openapi';
import { exceededMessage, retryAfterSeconds, stricter, windowTtlMs, type LimitOutcome } from '../../api/rate-limit';

const o = (kind: LimitOutcome['kind'], max: number, remaining: number, ttlMs: number, exceeded = false): LimitOutcome => ({ kind, max, remaining, ttlMs, exceeded });

describe('rate limits: window arithmetic and the stricter limit', () => {
  it('time left in a window: from its start and the clock, at least 1 ms, at most the window', () => {
    assert.equal(windowTtlMs({ windowStartMs: 60_000, nowMs: 60_000 }, 60_000), 60_000);
    assert.equal(windowTtlMs({ windowStartMs: 60_000, nowMs: 100_500 }, 60_000), 19_500);
    assert.equal(windowTtlMs({ windowStartMs: 60_000, nowMs: 120_000 }, 60_000), 1, 'a window that just ended');
    assert.equal(windowTtlMs({ windowStartMs: 60_000, nowMs: 59_000 }, 60_000), 60_000, 'never more than a window');
  });

  it('Retry-After is whole seconds, rounded up, at least 1', () => {
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(59_999), 60);
  });

  it('an exceeded limit answers (the one ending last of several), else the one with the fewest requests left', () => {
    assert.equal(stricter([]), undefined);
    assert.equal(stricter([o('credential', 600, 10, 5000), o('account', 3000, 4, 5000)])!.kind, 'account');
    assert.equal(stricter([o('credential', 600, 0, 5000, true), o('account', 3000, 4, 5000)])!.kind, 'credential');
    assert.equal(stricter([o('credential', 600, 0, 5000, true), o('account', 3000, 0, 9000, true)])!.kind, 'account');
  });

  it('the message names the limit, its rate and when to retry', () => {
    const who = { name: 'alice', apiKeyId: 'k', accountName: 'acme' };
    assert.equal(exceededMessage(o('credential', 600, 0, 12_300, true), 60_000, who),
      'rate limit of the credential exceeded: an API key (acting as alice) may make 600 requests a minute; retry in 13 s');
    assert.equal(exceededMessage(o('credential', 600, 0, 12_300, true), 60_000, { ...who, apiKeyId: null }),
      'rate limit of the credential exceeded: alice may make 600 requests a minute; retry in 13 s');
    assert.equal(exceededMessage(o('account', 3000, 0, 800, true), 60_000, who),
      'rate limit of account acme exceeded: all its credentials together may make 3000 requests a minute; retry in 1 s');
    assert.equal(exceededMessage(o('address', 600, 0, 2000, true), 10_000),
      'rate limit of requests without a valid credential exceeded: one address may make 600 requests every 10 s; retry in 2 s');
  });

  it('the OpenAPI description gives every operation a 429 but the webhook receiver\'s', () => {
    for (const [path, ops] of Object.entries(openapi.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) assert.equal('429' in op.responses, path !== '/webhooks/github', `${method} ${path}`);
    }
  });
});
