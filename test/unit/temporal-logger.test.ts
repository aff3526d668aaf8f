import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { SafeTemporalLogger, sanitizeLogMeta } from '../../common/temporal-logger';

describe('SDK log lines without failure messages', () => {
  const secret = 'hunter2-db-password';
  const failure = ApplicationFailure.nonRetryable(`tofu plan failed: var.db_password is "${secret}"`, 'TerraformConfigError');

  it('keeps identifiers, reduces errors to their name and type', () => {
    const meta = sanitizeLogMeta({ workflowId: 'run-1', attempt: 2, error: failure, cause: new Error(secret), failure: { message: secret } });
    assert.deepEqual(meta, {
      workflowId: 'run-1', attempt: 2,
      error: { name: 'ApplicationFailure', type: 'TerraformConfigError', nonRetryable: true },
      cause: { name: 'Error' },
      failure: { name: 'Object' },
    });
    assert.ok(!JSON.stringify(meta).includes(secret));
  });

  it('an Error under any key is reduced too; undefined stays undefined', () => {
    const meta = sanitizeLogMeta({ whatever: new TypeError(secret), error: undefined });
    assert.deepEqual(meta, { whatever: { name: 'TypeError' }, error: undefined });
  });

  it('filters by level and passes sanitized metadata to the sink', () => {
    const lines: string[] = [];
    const log = new SafeTemporalLogger('WARN', (level, message, meta) => lines.push(`${level} ${message} ${JSON.stringify(meta)}`));
    log.info('not shown', { error: failure });
    log.warn('Activity failed', { activityType: 'planUnit', error: failure });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^WARN Activity failed .*"activityType":"planUnit"/);
    assert.ok(!lines[0]!.includes(secret));
  });
});
