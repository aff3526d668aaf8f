/** Pure parts of drift detection: the report of a check, the schedule a state should have, the CLI's text. */
import assert from 'node:assert/strict';
import { wantedSchedule } from '../../activities/drift-schedules';
import { parseStackConfig } from '../../activities/hcl/stack-config';
import { resolveStackHooks, webhookBody } from '../../policies/hooks';
import { remediationLine, reportText, showLines, type DriftCheckBody } from '../../cli/drift';
import { driftReport } from '../../workflows/drift';
import { driftScheduleId, parseStackRunWorkflowId } from '../../workflows/definitions';

const STATE = '6f1c2a9e-1b2c-4d3e-8f90-0123456789ab';
const C = 'c'.repeat(40);
const change = (address: string, actions: string[], mode: 'managed' | 'data' = 'managed') => ({ address, type: address.split('.')[0]!, mode, actions });

describe('drift: the report of a check', () => {
  it('clean units: outcome none, no resources', () => {
    const r = driftReport(C, [{ unit: 'net', changes: [change('aws_vpc.x', ['no-op']), change('data.a.b', ['read'], 'data')] }, { unit: 'app', changes: [] }]);
    assert.equal(r.outcome, 'none');
    assert.deepEqual(r.resources, []);
    assert.deepEqual(r.units, { net: { status: 'clean' }, app: { status: 'clean' } });
  });

  it('drift: every changed managed address with its unit, type and actions, counted like a plan', () => {
    const r = driftReport(C, [
      { unit: 'net', changes: [change('terraform_data.b', ['create']), change('terraform_data.a', ['no-op'])] },
      { unit: 'app', changes: [change('terraform_data.c', ['update']), change('terraform_data.d', ['delete', 'create']), change('terraform_data.e', ['delete'])] },
    ]);
    assert.equal(r.outcome, 'drift');
    assert.deepEqual(r.resources.map((x) => [x.unit, x.address, x.type, x.actions.join('/')]), [
      ['net', 'terraform_data.b', 'terraform_data', 'create'], ['app', 'terraform_data.c', 'terraform_data', 'update'],
      ['app', 'terraform_data.d', 'terraform_data', 'delete/create'], ['app', 'terraform_data.e', 'terraform_data', 'delete'],
    ]);
    assert.deepEqual(r.counts, { add: 1, change: 1, destroy: 1, replace: 1 });
    assert.deepEqual(r.units, { net: { status: 'drift' }, app: { status: 'drift' } });
    assert.equal(JSON.stringify(r).includes('after'), false, 'no values');
  });

  it('a unit that failed makes the check fail, naming the unit and its reason (drift found elsewhere is kept)', () => {
    const r = driftReport(C, [{ unit: 'net', changes: [change('terraform_data.b', ['create'])] }, { unit: 'app', error: 'state locked by bob' }]);
    assert.equal(r.outcome, 'failed');
    assert.equal(r.reason, 'units failed: app (state locked by bob)');
    assert.equal(r.resources.length, 1);
  });
});

describe('drift: the schedule a state should have', () => {
  const row = { stateId: STATE, state: 'prod', stateStatus: 'active', stackCodeId: 'code', stack: 'net', codeStatus: 'active', config: { name: 'net', environment: 'production', drift: { schedule: '0 */6 * * *', autoRemediate: false } } };
  it('an active state of an active stack code with a drift block: drift-<state id>, its cron', () => {
    assert.deepEqual(wantedSchedule(row), { scheduleId: `drift-${STATE}`, cron: '0 */6 * * *', stack: 'net', state: 'prod', environment: 'production', stackCodeId: 'code' });
    assert.equal(driftScheduleId(STATE), `drift-${STATE}`);
  });
  it('none without a block, for a loose or destroyed state, or an invalid or de-registered stack code', () => {
    assert.equal(wantedSchedule({ ...row, config: { name: 'net' } }), undefined);
    assert.equal(wantedSchedule({ ...row, stateStatus: 'loose', stackCodeId: null, codeStatus: null }), undefined);
    assert.equal(wantedSchedule({ ...row, stateStatus: 'destroyed' }), undefined);
    assert.equal(wantedSchedule({ ...row, codeStatus: 'invalid' }), undefined);
    assert.equal(wantedSchedule({ ...row, codeStatus: 'deregistered' }), undefined);
  });
  it('drift check run ids are run ids of kind drift', () => {
    assert.deepEqual(parseStackRunWorkflowId(`run-drift-${STATE}-${C.slice(0, 12)}-abcdef012345`), { kind: 'drift', stateId: STATE, commitPrefix: C.slice(0, 12) });
  });
});

describe('drift: the CLI text', () => {
  const resources = [{ unit: 'root', address: 'terraform_data.b', type: 'terraform_data', actions: ['create'] }, { unit: 'root', address: 'terraform_data.long_name', type: 'terraform_data', actions: ['delete', 'create'] }];
  it('drift found: one line per address with Terraform\'s symbols and the remediation', () => {
    assert.deepEqual(reportText('Drift check x of net/prod', { outcome: 'drift', commit: C, resources, counts: { add: 1, change: 0, destroy: 0, replace: 1 }, remediation: { runId: 'run-deploy-y', needsApproval: true } }), [
      `Drift check x of net/prod at ${C.slice(0, 12)}: drift in 2 resources (+1 ~0 -0 ±1 to restore the code's intent)`,
      '    + terraform_data.b          create  (unit root)',
      '  -/+ terraform_data.long_name  replace  (unit root)',
      'Remediation: run run-deploy-y waits for approval (stackly run approve run-deploy-y)',
    ]);
  });
  it('none and failed in one line', () => {
    assert.deepEqual(reportText('Check', { outcome: 'none', resources: [] }), ['Check: no drift. The infrastructure matches the deployed code.']);
    assert.deepEqual(reportText('Check', { outcome: 'failed', resources: [], reason: 'units failed: root (locked)' }), ['Check: check failed: units failed: root (locked)']);
    assert.equal(remediationLine({ skipped: 'commit abc is registered' }), 'Remediation: none asked for: commit abc is registered');
  });
  it('show: the newest in full, the others one line each', () => {
    const base: DriftCheckBody = { id: '1', workflow_id: 'run-drift-2', status: 'succeeded', outcome: 'none', commit: C, triggered_by: 'x', started_at: 't2', completed_at: 't2e', counts: { add: 0, change: 0, destroy: 0, replace: 0 }, resources: [], reason: null, remediation: null };
    assert.deepEqual(showLines('net', 'prod', [base, { ...base, workflow_id: 'run-drift-1', started_at: 't1', outcome: 'drift', resources: [resources[0]!] }]), [
      `Last check run-drift-2 (t2e) at ${C.slice(0, 12)}: no drift. The infrastructure matches the deployed code.`,
      'Earlier checks:',
      '  t1  run-drift-1  drift (1)',
    ]);
    assert.deepEqual(showLines('net', 'prod', []), ['No drift checks of net/prod yet.']);
  });
});

describe('drift: hooks subscribe to drift_detected', () => {
  it('stack.hcl hooks { drift_detected = [...] } resolves like any event; the webhook body carries addresses and actions only', async () => {
    const cfg = await parseStackConfig('stack "net" {\n  hooks {\n    drift_detected = ["notify"]\n  }\n}\n');
    assert.deepEqual(cfg.hooks.driftDetected, ['notify']);
    const notify = { name: 'notify', type: 'record' as const, priority: 100, timeoutMs: 1000, continueOnFailure: false };
    const r = resolveStackHooks({ hooks: { notify } as never, errors: [] }, cfg.hooks, 'stack.hcl');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.hooks.drift_detected.map((d) => d.name), ['notify']);
    const body = webhookBody('notify', {
      event: 'drift_detected', runId: 'run-drift-x', kind: 'drift', stack: 'net', state: 'prod', commit: C, plan: { add: 1, change: 0, destroy: 0, replace: 0 },
      drift: { resources: [{ unit: 'root', address: 'terraform_data.b', actions: ['create'] }], remediationRunId: 'run-deploy-y' },
    }, 't');
    assert.deepEqual(body.drift, { resources: [{ unit: 'root', address: 'terraform_data.b', actions: ['create'] }], remediation_run_id: 'run-deploy-y' });
  });
});
