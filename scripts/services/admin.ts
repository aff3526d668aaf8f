/**
 * The first admin of a dev stack: a local user `admin` with the admin role in the account, and an API
 * key acting for it, kept in a file only its owner can read (the CLI reads it by default). A key in
 * that file that still works is kept; otherwise a new one is made.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { generateApiKey, parseApiKey, secretMatches } from '../../common/api-keys';
import { generateSigningKey, signingKeysJson } from '../../common/signing-keys';
import type { Db } from '../../db';
import { findApiKeyByPrefix, insertApiKey, setMembership, upsertUser } from '../../db/repos/people';

export async function ensureFirstAdmin(db: Db, accountId: string, keyFile: string): Promise<{ created: boolean }> {
  if (existsSync(keyFile)) {
    const parts = parseApiKey(readFileSync(keyFile, 'utf8').trim());
    const row = parts && await findApiKeyByPrefix(db, parts.prefix);
    if (row && parts && secretMatches(parts.secret, row.hash) && !row.revoked_at && row.account_id === accountId) return { created: false };
  }
  const user = await upsertUser(db, { provider: 'local', subject: 'admin', login: 'admin' });
  await setMembership(db, accountId, user.id, 'admin');
  const k = generateApiKey();
  await insertApiKey(db, { accountId, userId: user.id, name: 'dev-admin', role: 'admin', prefix: k.prefix, hash: k.hash, expiresAt: null });
  writeFileSync(keyFile, `${k.key}\n`, { mode: 0o600 });
  return { created: true };
}

/**
 * The dev stack's access-token signing key (AUTH_SIGNING_KEYS when the environment has none): a JWKS
 * with one Ed25519 key, made once and kept in a file only its owner can read.
 */
export async function ensureSigningKeys(file: string): Promise<{ json: string; created: boolean }> {
  if (existsSync(file)) return { json: readFileSync(file, 'utf8').trim(), created: false };
  const json = signingKeysJson([await generateSigningKey()]);
  writeFileSync(file, `${json}\n`, { mode: 0o600 });
  return { json, created: true };
}
