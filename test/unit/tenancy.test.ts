/** Pure parts of tenancy: the per-namespace worker set (fake Workers) and the activities' account guard. */
import assert from 'node:assert/strict';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { guardAccounts } from '../../activities/account-guard';
import { startNamespaceWorkers } from '../../workers/namespaces';

function fakeWorker(): Worker & { stopped: boolean; fail(e: Error): void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const running = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  const w = {
    stopped: false,
    run: () => running,
    shutdown() { w.stopped = true; resolve(); },
    fail: (e: Error) => reject(e),
  };
  return w as unknown as Worker & { stopped: boolean; fail(e: Error): void };
}

describe('tenancy: a Worker per namespace, found again and again', () => {
  it('serves new namespaces at each refresh, makes a failed one again, stops them all', async () => {
    let wanted = ['stackly'];
    const made: Record<string, Array<ReturnType<typeof fakeWorker>>> = {};
    let notYet = new Set(['stackly-late']);
    const set = startNamespaceWorkers({
      namespaces: async () => wanted,
      create: async (ns) => {
        if (notYet.has(ns)) throw new Error(`namespace ${ns} not found`);
        const w = fakeWorker();
        (made[ns] ??= []).push(w);
        return w;
      },
      refreshMs: 60_000, logger: pino({ level: 'silent' }),
    });
    await set.refresh();
    assert.deepEqual(set.serving(), ['stackly']);
    wanted = ['stackly', 'stackly-a', 'stackly-late'];
    await set.refresh();
    assert.deepEqual(set.serving(), ['stackly', 'stackly-a'], 'a namespace not served yet is skipped for now');
    notYet = new Set();
    await set.refresh();
    assert.deepEqual(set.serving(), ['stackly', 'stackly-a', 'stackly-late']);
    made['stackly-a']![0]!.fail(new Error('fatal'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(set.serving(), ['stackly', 'stackly-late']);
    await set.refresh();
    assert.equal(made['stackly-a']!.length, 2, 'made again');
    set.shutdown();
    await set.run();
    assert.ok(Object.values(made).flat().filter((w) => w !== made['stackly-a']![0]).every((w) => w.stopped));
  });
});

describe('tenancy: activities act in the accounts of their namespace', () => {
  const acts = guardAccounts({
    async loadRunContext(input: { stateId: string }) { return { accountId: input.stateId === 'theirs' ? 'acct-b' : 'acct-a', stateId: input.stateId }; },
    async emitRunEvent(_input: { ctx: { accountId: string } }) { return 'ok'; },
  }, { namespace: 'stackly-a', accountsOf: async (ns) => (ns === 'stackly-a' ? ['acct-a'] : []) });

  it('passes its own account, refuses another in the input (nested too) or the result', async () => {
    assert.equal((await acts.loadRunContext({ stateId: 'mine' })).accountId, 'acct-a');
    assert.equal(await acts.emitRunEvent({ ctx: { accountId: 'acct-a' } }), 'ok');
    await assert.rejects(acts.emitRunEvent({ ctx: { accountId: 'acct-b' } }), /emitRunEvent: account acct-b is not an account of namespace stackly-a/);
    await assert.rejects(acts.loadRunContext({ stateId: 'theirs' }), (e: Error & { nonRetryable?: boolean; type?: string }) => e.type === 'AccountNotInNamespace' && e.nonRetryable === true);
  });
});
