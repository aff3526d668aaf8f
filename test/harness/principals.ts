/**
 * People for tests: a user, their membership and role in an account, admin-mapped groups, and an
 * API key acting for them, straight in the suite's schema (as an admin would make them through the
 * api). Returns the key and the Authorization header.
 */
import { generateApiKey } from '../../common/api-keys';
import type { Db } from '../../db';
import { addAdminGroup, insertApiKey, setMembership, upsertUser } from '../../db/repos/people';
import type { Role } from '../../db/tables/people';

export interface TestPrincipal {
  userId: string;
  login: string;
  key: string;
  keyId: string;
  auth: { authorization: string };
}

export async function createPrincipal(db: Db, o: { accountId: string; login: string; role: Role; groups?: string[]; expiresAt?: Date | null }): Promise<TestPrincipal> {
  const user = await upsertUser(db, { provider: 'local', subject: `test:${o.login}`, login: o.login });
  await setMembership(db, o.accountId, user.id, o.role);
  for (const g of o.groups ?? []) await addAdminGroup(db, o.accountId, user.id, g);
  const k = generateApiKey();
  const row = await insertApiKey(db, { accountId: o.accountId, userId: user.id, name: `${o.login}-test`, role: o.role, prefix: k.prefix, hash: k.hash, expiresAt: o.expiresAt ?? null });
  return { userId: user.id, login: o.login, key: k.key, keyId: row.id, auth: { authorization: `Bearer ${k.key}` } };
}
