import assert from 'node:assert/strict';
import { outputsFromState, parseOutputs } from '../../activities/terraform/plan-json';

describe('unit outputs read from the state object after apply', () => {
  it('gives what `tofu output -json` gives for a plain v4 state', () => {
    const state = JSON.stringify({
      version: 4, terraform_version: '1.12.6', serial: 3, lineage: 'x',
      outputs: {
        id: { value: 'abc', type: 'string' },
        secret: { value: 's3cr3t', type: 'string', sensitive: true },
        ids: { value: ['a', 'b'], type: ['set', 'string'] },
      },
      resources: [],
    });
    const fromTofu = parseOutputs(JSON.stringify({
      id: { sensitive: false, type: 'string', value: 'abc' },
      secret: { sensitive: true, type: 'string', value: 's3cr3t' },
      ids: { sensitive: false, type: ['set', 'string'], value: ['a', 'b'] },
    }));
    assert.deepEqual(outputsFromState(state), fromTofu);
    assert.deepEqual(outputsFromState(JSON.stringify({ version: 4, outputs: {} })), {});
  });

  it('declines what is not a plain v4 state, so the caller asks tofu', () => {
    assert.equal(outputsFromState('not json'), undefined);
    assert.equal(outputsFromState(JSON.stringify({ serial: 1, lineage: 'x', meta: {}, encrypted_data: 'AAAA' })), undefined);
    assert.equal(outputsFromState(JSON.stringify({ version: 3, outputs: {} })), undefined);
    assert.equal(outputsFromState(JSON.stringify({ version: 4 })), undefined);
  });
});
