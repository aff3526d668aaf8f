import assert from 'node:assert/strict';
import { parseStackRunWorkflowId, stackRunWorkflowId } from '../../workflows/definitions';

describe('run ids', () => {
  const state = '6f1c2a9e-1b2c-4d3e-8f90-0123456789ab';
  const commit = '0123456789abcdef0123456789abcdef01234567';

  it('name the state, kind and commit they were made from (the api finds a just-started run by them)', () => {
    for (const kind of ['deploy', 'destroy', 'drift'] as const) {
      assert.deepEqual(parseStackRunWorkflowId(stackRunWorkflowId(state, commit, kind)), { kind, stateId: state, commitPrefix: '0123456789ab' });
    }
  });

  it('other ids name nothing', () => {
    for (const id of ['push-1', `run-deploy-${state}-${commit.slice(0, 12)}-UPPER`, `run-apply-${state}-0123`, `run-deploy-not-a-uuid-0123`, 'no-such-run']) {
      assert.equal(parseStackRunWorkflowId(id), undefined, id);
    }
  });
});
