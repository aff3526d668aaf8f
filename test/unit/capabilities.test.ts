import assert from 'node:assert/strict';
import { noWorkerReason, satisfies, taskQueueFor } from '../../workflows/capabilities';

describe('capabilities', () => {
  it('derives one task queue per capability set, independent of order', () => {
    const a = taskQueueFor({ features: ['terraform', 'ansible'], labels: { region: 'eu', env: 'prod' } });
    const b = taskQueueFor({ features: ['ansible', 'terraform', 'terraform'], labels: { env: 'prod', region: 'eu' } });
    assert.equal(a, b);
    assert.equal(a, 'stackly-exec/features=ansible,terraform/labels=env=prod,region=eu');
    assert.notEqual(a, taskQueueFor({ features: ['terraform'], labels: { env: 'prod', region: 'eu' } }));
  });

  it('matches when the worker carries every required feature and label value', () => {
    const worker = { features: ['terraform'], labels: { env: 'prod', region: 'eu' } };
    assert.ok(satisfies(worker, { features: ['terraform'], labels: { env: 'prod' } }));
    assert.ok(satisfies(worker, { features: [], labels: {} }));
    assert.ok(!satisfies(worker, { features: ['terraform'], labels: { env: 'staging' } }));
    assert.ok(!satisfies(worker, { features: ['ansible'], labels: {} }));
    assert.ok(!satisfies(worker, { features: [], labels: { zone: 'a' } }));
  });

  it('says what is missing in the waiting reason', () => {
    assert.equal(
      noWorkerReason({ features: ['terraform'], labels: { region: 'us-west-2', environment: 'prod' } }),
      'no live worker with features=[terraform], labels={environment=prod,region=us-west-2}',
    );
  });
});
