/** `stackly api-key`: which key a reference names, and the table `list` prints. */
import assert from 'node:assert/strict';
import { buildProgram } from '../../../cli/index';
import { findKey, keysTable, type ApiKeyBody } from '../../../cli/api-key';

const key = (id: string, prefix: string, o: Partial<ApiKeyBody> = {}): ApiKeyBody => ({
  id, prefix, name: `key-${prefix}`, role: 'viewer', user_id: null, created_at: '2026-12-02T03:04:05.000Z', expires_at: null,
  last_used_at: null, revoked_at: null, status: 'active', ...o,
});
const keys = [
  key('6f1c2a9e-1b2c-4d3e-8f90-0123456789ab', 'abcd012345'),
  key('7f1c2a9e-1b2c-4d3e-8f90-0123456789ab', 'abce999999', { revoked_at: '2026-12-02T05:00:00Z', status: 'revoked', last_used_at: '2026-12-02T04:00:00Z' }),
];

describe('cli api-key', () => {
  it('is registered as `stackly api-key create|list|revoke`', () => {
    const c = buildProgram().commands.find((x) => x.name() === 'api-key');
    assert.deepEqual(c?.commands.map((x) => x.name()), ['create', 'list', 'revoke']);
  });

  it('a key is named by its id, its prefix (with or without stk_), the whole key, or the unique start of a prefix', () => {
    assert.equal(findKey(keys, '6F1C2A9E-1b2c-4d3e-8f90-0123456789ab').prefix, 'abcd012345');
    assert.equal(findKey(keys, 'abce999999').prefix, 'abce999999');
    assert.equal(findKey(keys, 'stk_abce999999').prefix, 'abce999999');
    assert.equal(findKey(keys, `stk_abcd012345_${'x'.repeat(43)}`).prefix, 'abcd012345');
    assert.equal(findKey(keys, 'abcd0').prefix, 'abcd012345');
    assert.throws(() => findKey(keys, 'abc1'), /no API key with id or prefix "abc1"/);
    assert.throws(() => findKey(keys, 'abc'), /no API key/, 'too short to be a start');
    assert.throws(() => findKey([...keys, key('8f1c2a9e-1b2c-4d3e-8f90-0123456789ab', 'abcd999999')], 'abcd'), /start of several keys' prefixes \(abcd012345, abcd999999\)/);
  });

  it('the list is a table with every column, dates in UTC minutes', () => {
    assert.equal(keysTable(keys), [
      'ID                                    PREFIX          NAME            ROLE    CREATED           EXPIRES  LAST USED         REVOKED',
      '6f1c2a9e-1b2c-4d3e-8f90-0123456789ab  stk_abcd012345  key-abcd012345  viewer  2026-12-02 03:04  never    never             -',
      '7f1c2a9e-1b2c-4d3e-8f90-0123456789ab  stk_abce999999  key-abce999999  viewer  2026-12-02 03:04  never    2026-12-02 04:00  2026-12-02 05:00',
      '',
    ].join('\n'));
  });
});
