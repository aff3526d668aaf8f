/** Pure parts of one run at a time per state: which waiting runs a new one supersedes, moves of a push, run ids. */
import assert from 'node:assert/strict';
import type { RegisteredStack } from '../../workflows/model/registry';
import { newRunId, parseStackRunWorkflowId, type RunKind, type RunRequest } from '../../workflows/definitions';
import { findMoves } from '../../workflows/push';
import { supersededBy } from '../../workflows/state-queue';

const STATE = '6f1c2a9e-1b2c-4d3e-8f90-0123456789ab';
const entry = (runId: string, kind: RunKind, generation: number) => ({
  generation,
  req: {
    runId, workflowType: kind === 'destroy' ? 'destroyWorkflow' : 'stackRunWorkflow',
    input: { stateId: STATE, stackCodeId: 'c', commit: 'a'.repeat(40), kind, trigger: { type: 'push', by: 'x' }, generation },
  } as RunRequest,
});

describe('state queue: what a new run supersedes', () => {
  it('a deploy supersedes waiting deploys of its generation or older, never newer ones or destroys', () => {
    const waiting = [entry('d1', 'deploy', 1), entry('d2', 'deploy', 2), entry('x', 'destroy', 2), entry('d3', 'deploy', 3)];
    assert.deepEqual(supersededBy(waiting, entry('n', 'deploy', 2)).map((e) => e.req.runId), ['d1', 'd2']);
    // A manual re-run of the same generation replaces a waiting one (the newest request wins).
    assert.deepEqual(supersededBy([entry('d1', 'deploy', 5)], entry('m', 'deploy', 5)).map((e) => e.req.runId), ['d1']);
  });

  it('a destroy supersedes every waiting deploy; nothing supersedes a destroy', () => {
    const waiting = [entry('d1', 'deploy', 7), entry('x', 'destroy', 1)];
    assert.deepEqual(supersededBy(waiting, entry('n', 'destroy', 1)).map((e) => e.req.runId), ['d1']);
    assert.deepEqual(supersededBy([entry('x', 'destroy', 1)], entry('n', 'deploy', 9)), []);
  });
});

describe('push: moves', () => {
  const reg = (id: string, repoPath: string, name: string): RegisteredStack => ({ id, repoPath, name, status: 'active', currentCommit: 'c', latestCommit: 'c' });

  it('a removed stack and a new directory declaring the same name are one move', () => {
    const names: Record<string, string> = { 'stacks/network': 'net', 'stacks/app': 'app' };
    const moves = findMoves({
      toRegister: [{ dir: 'stacks/network', expectedLatest: null }, { dir: 'stacks/app', expectedLatest: null }],
      toDeregister: [reg('1', 'stacks/net', 'net')],
    }, (d) => names[d]);
    assert.deepEqual(moves.map((m) => [m.from.repoPath, m.to]), [['stacks/net', 'stacks/network']]);
  });

  it('no move when a name pairs more than one directory on either side, or the new one is already registered', () => {
    assert.deepEqual(findMoves({
      toRegister: [{ dir: 'a', expectedLatest: null }, { dir: 'b', expectedLatest: null }],
      toDeregister: [reg('1', 'old', 'net')],
    }, () => 'net'), []);
    assert.deepEqual(findMoves({
      toRegister: [{ dir: 'a', expectedLatest: null }],
      toDeregister: [reg('1', 'old1', 'net'), reg('2', 'old2', 'net')],
    }, () => 'net'), []);
    assert.deepEqual(findMoves({ toRegister: [{ dir: 'a', expectedLatest: 'c' }], toDeregister: [reg('1', 'old', 'net')] }, () => 'net'), []);
    // An invalid stack.hcl at the new place has no name: not a move (the old one goes loose).
    assert.deepEqual(findMoves({ toRegister: [{ dir: 'a', expectedLatest: null }], toDeregister: [reg('1', 'old', 'net')] }, () => undefined), []);
  });
});

describe('run ids', () => {
  it('every run has its own id naming its state, kind and commit', () => {
    const commit = '0123456789abcdef0123456789abcdef01234567';
    const a = newRunId('deploy', STATE, commit, 'a1b2c3d4e5f6');
    assert.equal(a, `run-deploy-${STATE}-0123456789ab-a1b2c3d4e5f6`);
    assert.deepEqual(parseStackRunWorkflowId(a), { kind: 'deploy', stateId: STATE, commitPrefix: '0123456789ab' });
    assert.notEqual(newRunId('deploy', STATE, commit, 'ffff0000'), a);
    assert.throws(() => newRunId('deploy', STATE, commit, 'Bad-Suffix'), /suffix/);
  });
});
