/** `stackly state unlock`: the request it makes and the one line it prints or fails with. */
import assert from 'node:assert/strict';
import { ApiClient, ApiRequestError } from '../../../cli/api-client';
import { buildProgram } from '../../../cli/index';
import { unlockedLine, unlockState, type UnlockBody } from '../../../cli/state';

const TOKEN = 'secret-token-0123456789';

function fakeFetch(answers: Array<{ status: number; body: unknown }>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const a = answers.shift()!;
    return new Response(JSON.stringify(a.body), { status: a.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { fn, calls };
}

const answer = (holder: UnlockBody['lock']['holder']): UnlockBody => ({
  unlocked: true, state_id: 's1', unit: 'net', key: 'acme/s1/net.tfstate', why: holder ? 'holder_not_alive' : 'unclaimed',
  lock: { id: 'L1', operation: 'OperationTypeApply', who: 'ada@laptop', created: '2026-12-01T10:00:00Z', holder },
});

describe('cli state unlock', () => {
  it('is registered as `stackly state unlock`', () => {
    const state = buildProgram().commands.find((c) => c.name() === 'state');
    assert.ok(state?.commands.some((c) => c.name() === 'unlock'));
  });

  it('POSTs the unit and the reason, and says what it broke', async () => {
    const holder = { worker_id: 'exec-1', incarnation: 'abc', run_id: 'run-9', unit: 'net', phase: 'apply', claimed_at: '2026-12-01T10:00:01Z' };
    const f = fakeFetch([{ status: 200, body: answer(holder) }, { status: 200, body: answer(null) }]);
    const c = new ApiClient({ url: 'http://api.test', token: TOKEN }, f.fn);
    const b = await unlockState(c, 's1', 'net', 'worker lost');
    assert.equal(f.calls[0]!.url, 'http://api.test/api/states/s1/unlock');
    assert.equal(f.calls[0]!.init.method, 'POST');
    assert.deepEqual(JSON.parse(String(f.calls[0]!.init.body)), { unit: 'net', reason: 'worker lost' });
    assert.equal(unlockedLine(b), 'Unlocked unit net of state s1: lock L1, held by worker exec-1 (run run-9, apply of unit net), which is no longer alive');
    assert.equal(unlockedLine(await unlockState(c, 's1', 'net', 'x')), 'Unlocked unit net of state s1: lock L1, not claimed by a Stackly worker (OperationTypeApply by ada@laptop since 2026-12-01T10:00:00Z)');
  });

  it('a refusal is one line with the status and the API\'s reason, never the token', async () => {
    const msg = 'unit net is locked by worker exec-1, run run-9, apply of unit net, which is alive: not breaking it (cancel the run instead)';
    const f = fakeFetch([{ status: 409, body: { error: { code: 'lock_held', message: msg } } }]);
    const err = await unlockState(new ApiClient({ url: 'http://api.test', token: TOKEN }, f.fn), 's1', 'net', 'why').catch((e: unknown) => e);
    assert.ok(err instanceof ApiRequestError);
    assert.equal(err.message, `unlocking unit net of state s1: HTTP 409 lock_held: ${msg}`);
    assert.ok(!err.message.includes('\n') && !err.message.includes(TOKEN));
  });
});
