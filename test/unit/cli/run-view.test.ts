import assert from 'node:assert/strict';
import {
  actionSymbol, countsText, exitCodeOf, finalLine, frameLines, noticeLines, planSummaryLines, reportLines, transitionLines, unitLines,
} from '../../../cli/run-view';
import type { RunProgress } from '../../../workflows/definitions';

const ID = 'run-deploy-s1-abc';
const zero = { add: 0, change: 0, destroy: 0, replace: 0 };

function progress(p: Partial<RunProgress> = {}): RunProgress {
  return { workflowId: ID, kind: 'deploy', phase: 'planning', commit: '0123456789abcdef0123', stack: 'net', state: 'prod', units: {}, approvals: [], ...p };
}

const review: NonNullable<RunProgress['review']> = {
  counts: { add: 2, change: 1, destroy: 0, replace: 1 },
  changes: [
    { address: 'terraform_data.z', actions: ['update'] },
    { address: 'module.a.terraform_data.t', actions: ['create'] },
    { address: 'terraform_data.r', actions: ['delete', 'create'] },
    { address: 'terraform_data.b', actions: ['create'] },
  ],
};

describe('cli run view: formatting a run', () => {
  it('exit code: 0 succeeded or no changes, 1 failed/rejected/cancelled/superseded, none while running', () => {
    assert.equal(exitCodeOf('succeeded'), 0);
    assert.equal(exitCodeOf('no_changes'), 0);
    for (const p of ['failed', 'rejected', 'cancelled', 'superseded'] as const) assert.equal(exitCodeOf(p), 1);
    for (const p of ['starting', 'waiting_for_worker', 'planning', 'awaiting_approval', 'queued', 'applying'] as const) assert.equal(exitCodeOf(p), undefined);
  });

  it('a queued run says which run it waits for; a superseded one names the run that took its place', () => {
    const base = { workflowId: 'r2', kind: 'deploy' as const, commit: 'c'.repeat(40), units: {}, approvals: [] };
    const queued = { ...base, phase: 'queued' as const, waitingReason: 'waiting for run r1 of this state to finish', waitingFor: 'r1' };
    assert.match(reportLines('r2', queued)[0]!, /queued \(waiting for run r1 of this state to finish\)/);
    const superseded = { ...base, phase: 'superseded' as const, supersededBy: 'r3', error: 'superseded by a newer run (commit abc) (run r3)' };
    assert.equal(finalLine('r2', superseded), 'run r2 was superseded by r3: superseded by a newer run (commit abc) (run r3)');
  });

  it('counts and plan symbols as Terraform shows them', () => {
    assert.equal(countsText({ add: 1, change: 2, destroy: 3, replace: 0 }), '+1 ~2 -3');
    assert.equal(countsText({ add: 0, change: 0, destroy: 0, replace: 2 }), '+0 ~0 -0 ±2');
    assert.equal(countsText(undefined), '');
    assert.deepEqual(actionSymbol(['create']), { symbol: '+', word: 'create' });
    assert.deepEqual(actionSymbol(['update']), { symbol: '~', word: 'update' });
    assert.deepEqual(actionSymbol(['delete']), { symbol: '-', word: 'destroy' });
    assert.deepEqual(actionSymbol(['delete', 'create']), { symbol: '-/+', word: 'replace' });
    assert.deepEqual(actionSymbol(['create', 'delete']), { symbol: '+/-', word: 'replace (create first)' });
  });

  it('plan summary: the count line, then every changed address sorted and aligned', () => {
    assert.deepEqual(planSummaryLines(review), [
      'Plan: 2 to add, 1 to change, 0 to destroy, 1 to replace.',
      '    + module.a.terraform_data.t  create',
      '    + terraform_data.b           create',
      '  -/+ terraform_data.r           replace',
      '    ~ terraform_data.z           update',
    ]);
    assert.deepEqual(planSummaryLines({ counts: zero, changes: [] }), ['Plan: no changes. The infrastructure matches the configuration.']);
  });

  it('one aligned line per unit with its status, counts and reason; a spinner only on a terminal', () => {
    const units: RunProgress['units'] = {
      net: { status: 'succeeded', counts: { add: 1, change: 0, destroy: 0, replace: 0 } },
      'module.app': { status: 'applying', counts: { add: 2, change: 0, destroy: 0, replace: 0 } },
      db: { status: 'skipped', reason: 'dependency net failed' },
      web: { status: 'pending' },
    };
    assert.deepEqual(unitLines(units), [
      '  ✓ net         succeeded         +1 ~0 -0',
      '  > module.app  applying          +2 ~0 -0',
      '  - db          skipped           dependency net failed',
      '  · web         pending',
    ]);
    assert.equal(unitLines(units, 1)[1], '  ⠙ module.app  applying          +2 ~0 -0');
    assert.equal(unitLines(units, 1)[0], '  ✓ net         succeeded         +1 ~0 -0', 'done units do not spin');
  });

  it('the redrawn block: header with stack/state, short commit, phase and waiting reason', () => {
    const p = progress({ phase: 'waiting_for_worker', waitingReason: 'no live worker with features=[terraform], labels={region=eu}' });
    assert.deepEqual(frameLines(p), [
      `net/prod at 0123456789ab · waiting for worker (no live worker with features=[terraform], labels={region=eu})`,
      '  (units are listed once the stack is analysed)',
    ]);
    assert.equal(frameLines(progress({ kind: 'destroy', phase: 'applying', units: { a: { status: 'pending' } } }))[0], `net/prod (destroy) at 0123456789ab · applying`);
  });

  it('notices: the plan summary once, the approval wait with the commands once', () => {
    const units = { a: { status: 'pending' as const } };
    const planned = progress({ phase: 'planning', units });
    const waiting = progress({ phase: 'awaiting_approval', waitingReason: 'waiting for approval of the plan', review, units });
    assert.deepEqual(noticeLines(ID, planned, planned), []);
    assert.deepEqual(noticeLines(ID, planned, waiting), [
      ...planSummaryLines(review),
      'Waiting for approval: waiting for approval of the plan',
      `  approve: stackly run approve ${ID}`,
      `  reject:  stackly run reject ${ID} --reason "…"`,
    ]);
    assert.deepEqual(noticeLines(ID, waiting, waiting), [], 'nothing said twice');
    const moreNeeded = { ...waiting, waitingReason: 'needs 2 approvals from platform-admins (have 1)' };
    assert.deepEqual(noticeLines(ID, waiting, moreNeeded), [
      'Waiting for approval: needs 2 approvals from platform-admins (have 1)',
      `  approve: stackly run approve ${ID}`,
      `  reject:  stackly run reject ${ID} --reason "…"`,
    ], 'a new waiting reason is said');
  });

  it('notices: a unit asking for approval of its difference names addresses, reasons and the scoped command', () => {
    const before = progress({ phase: 'applying', review, units: { app: { status: 'planning' } } });
    const after = progress({
      phase: 'applying', review,
      units: { app: { status: 'awaiting_approval', reason: 'its plan differs from the reviewed plan', differences: [{ address: 'module.app.terraform_data.x', reason: 'value known at review changed: input' }] } },
    });
    assert.deepEqual(noticeLines(ID, before, after), [
      'Unit app waits for approval: its plan differs from the reviewed plan',
      '    module.app.terraform_data.x: value known at review changed: input',
      `  approve: stackly run approve ${ID} --scope unit:app`,
      `  reject:  stackly run reject ${ID} --scope unit:app --reason "…"`,
    ]);
  });

  it('notices: root outputs once at success, sensitive ones withheld', () => {
    const applying = progress({ phase: 'applying', review });
    const done = progress({ phase: 'succeeded', review, outputs: { id: { value: 'x-1', sensitive: false }, secret: { value: '(sensitive)', sensitive: true } } });
    assert.deepEqual(noticeLines(ID, applying, done), ['Outputs:', '  id = "x-1"', '  secret = (sensitive)']);
    assert.deepEqual(noticeLines(ID, done, done), []);
  });

  it('plain lines: a line per change of phase or unit status', () => {
    const a = progress({ phase: 'planning', units: { a: { status: 'pending' }, b: { status: 'pending' } } });
    const b = progress({ phase: 'applying', units: { a: { status: 'applying', counts: { ...zero, add: 1 } }, b: { status: 'pending' } }, approvals: [{ by: 'alice', scope: 'review', comment: 'ok' }] });
    assert.deepEqual(transitionLines(ID, undefined, a), [
      `net/prod at 0123456789ab · planning`, '  unit a: pending', '  unit b: pending',
    ]);
    assert.deepEqual(transitionLines(ID, a, b), [
      `net/prod at 0123456789ab · applying`, '  unit a: applying +1 ~0 -0',
    ]);
    assert.deepEqual(transitionLines(ID, b, b), []);
    assert.deepEqual(noticeLines(ID, a, b), ['  approved by alice: ok'], 'approvals are notices: shown on a terminal too');
  });

  it('final line per outcome', () => {
    const units = { a: { status: 'succeeded' as const }, b: { status: 'no_changes' as const } };
    assert.equal(finalLine(ID, progress({ phase: 'succeeded', units })), `Run ${ID} succeeded: 1 of 2 units applied.`);
    assert.equal(finalLine(ID, progress({ phase: 'no_changes' })), `Run ${ID} succeeded: no changes, nothing applied.`);
    assert.equal(finalLine(ID, progress({ phase: 'rejected', error: 'rejected by bob: not now' })), `run ${ID} was rejected: rejected by bob: not now`);
    assert.equal(finalLine(ID, progress({ phase: 'failed', error: 'units failed: a (boom)' })), `run ${ID} failed: units failed: a (boom)`);
    assert.equal(finalLine(ID, progress({ phase: 'cancelled', error: 'cancelled' })), `run ${ID} was cancelled`);
  });

  it('show: everything known at once', () => {
    const p = progress({ phase: 'awaiting_approval', waitingReason: 'waiting for approval of the plan', review, units: { a: { status: 'pending' } } });
    assert.deepEqual(reportLines(ID, p), [
      `net/prod at 0123456789ab · awaiting approval (waiting for approval of the plan)`,
      '  · a  pending',
      ...planSummaryLines(review),
      'Waiting for approval: waiting for approval of the plan',
      `  approve: stackly run approve ${ID}`,
      `  reject:  stackly run reject ${ID} --reason "…"`,
    ]);
    const done = progress({ phase: 'succeeded', review, units: { a: { status: 'succeeded' } }, approvals: [{ by: 'alice', scope: 'review' }] });
    assert.deepEqual(reportLines(ID, done).slice(-2), ['  approved by alice', `Run ${ID} succeeded: 1 of 1 units applied.`]);
  });
});
