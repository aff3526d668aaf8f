/** Pure parts of signing in: role mappings, groups claims, the signing-keys variable, access tokens (jose, no I/O). */
import assert from 'node:assert/strict';
import { mappedRoles } from '../../api/auth/sign-in';
import { groupsFromClaim } from '../../api/auth/providers';
import { createAccessTokens } from '../../api/auth/tokens';
import { loadConfig } from '../../common/config';
import { generateSigningKey, signingKeysJson } from '../../common/signing-keys';

const base = { DATABASE_URL: 'postgres://x@h/db', GITHUB_WEBHOOK_SECRET: '0123456789abcdef0', VAULT_TOKEN: 't' };

describe('sign-in (pure)', () => {
  it('mappedRoles: the highest role per account of the matching groups; provider-limited entries', () => {
    const m = [
      { group: 'dev', account: 'a', role: 'operator' as const },
      { group: 'ops', account: 'a', role: 'admin' as const },
      { group: 'dev', account: 'b', role: 'viewer' as const },
      { group: 'org/team', account: 'b', role: 'approver' as const, provider: 'github' as const },
    ];
    assert.deepEqual([...mappedRoles({ provider: 'oidc', groups: ['dev', 'ops', 'org/team'] }, m)], [['a', 'admin'], ['b', 'viewer']]);
    assert.deepEqual([...mappedRoles({ provider: 'github', groups: ['org/team'] }, m)], [['b', 'approver']]);
    assert.equal(mappedRoles({ provider: 'oidc', groups: [] }, m).size, 0);
  });

  it('groupsFromClaim: strings of an array (sorted, once), or one string; anything else none', () => {
    assert.deepEqual(groupsFromClaim(['b', 'a', 'b', 3, null, '']), ['a', 'b']);
    assert.deepEqual(groupsFromClaim('admins'), ['admins']);
    assert.deepEqual(groupsFromClaim({ a: 1 }), []);
    assert.deepEqual(groupsFromClaim(undefined), []);
  });

  it('AUTH_SIGNING_KEYS: a JWKS of private EdDSA/ES256 keys with unique kids; never echoed in the error', async () => {
    const k = await generateSigningKey();
    assert.equal(loadConfig('api', { ...base, AUTH_SIGNING_KEYS: signingKeysJson([k]) }).AUTH_SIGNING_KEYS![0]!.kid, k.kid);
    const { d: _d, ...pub } = k;
    assert.throws(() => loadConfig('api', { ...base, AUTH_SIGNING_KEYS: signingKeysJson([pub as typeof k]) }), (e: Error) => /AUTH_SIGNING_KEYS is invalid/.test(e.message) && !e.message.includes(k.x));
    assert.throws(() => loadConfig('api', { ...base, AUTH_SIGNING_KEYS: signingKeysJson([k, k]) }), /same kid/);
    assert.throws(() => loadConfig('api', { ...base, AUTH_SIGNING_KEYS: 'x' }), /not JSON/);
    assert.throws(() => loadConfig('api', { ...base, AUTH_GITHUB_CLIENT_ID: 'id', AUTH_GITHUB_CLIENT_SECRET: 's' }), /AUTH_SIGNING_KEYS is required/);
    assert.throws(() => loadConfig('api', { ...base, AUTH_ROLE_MAPPINGS: '[{"group":"g","account":"a","role":"root"}]' }), /AUTH_ROLE_MAPPINGS is invalid: 0.role/);
  });

  it('access tokens: issued by the first key, verified by any; rotation; a removed key, another audience or a non-uuid subject fail', async () => {
    const [k1, k2] = [await generateSigningKey(), await generateSigningKey('ES256')];
    const sub = '3b241101-e2bb-4255-8caf-4136c566a962';
    const before = await createAccessTokens({ keys: [k2], ttlSeconds: 60 });
    const rotated = await createAccessTokens({ keys: [k1, k2], ttlSeconds: 60 });
    const after = await createAccessTokens({ keys: [k1], ttlSeconds: 60 });
    const old = (await before.issue(sub)).token;
    assert.deepEqual(await rotated.verify(old), { userId: sub }, 'an old key verifies while it is listed');
    assert.equal(await after.verify(old), undefined, 'and not once removed');
    const t = await rotated.issue(sub);
    assert.ok(t.expiresAt.getTime() > Date.now() && t.expiresAt.getTime() <= Date.now() + 61_000);
    assert.deepEqual(await after.verify(t.token), { userId: sub }, 'the first key signs');
    assert.equal(await rotated.verify((await rotated.issue('not-a-uuid')).token), undefined);
    assert.equal(await rotated.verify('garbage'), undefined);
  });
});
