/**
 * secret_variables: write-only Terraform variable values of a state or of a stack code (all its
 * states), stored only as Vault Transit ciphertext. Reading a value is for execution workers only
 * (secretsOfState); the api lists names and who set them when.
 */
import type { DbOrTx } from '../index';
import type { SecretScope, SecretVariableRow } from '../tables/execution-secrets';

export interface SecretVariableInfo {
  name: string;
  scope: SecretScope;
  updated_at: Date;
  updated_by: string;
}

export async function upsertSecretVariable(
  db: DbOrTx,
  s: { accountId: string; scope: SecretScope; scopeId: string; name: string; valueEnc: string; by: string },
): Promise<{ created: boolean; row: SecretVariableInfo }> {
  const row = await db
    .insertInto('secret_variables')
    .values({ account_id: s.accountId, scope: s.scope, scope_id: s.scopeId, name: s.name, value_enc: s.valueEnc, updated_by: s.by })
    .onConflict((oc) => oc.columns(['scope', 'scope_id', 'name']).doUpdateSet({ value_enc: s.valueEnc, updated_by: s.by, updated_at: new Date() }))
    .returning(['name', 'scope', 'updated_at', 'updated_by', 'created_at'])
    .executeTakeFirstOrThrow();
  return { created: row.created_at.getTime() === row.updated_at.getTime(), row: { name: row.name, scope: row.scope, updated_at: row.updated_at, updated_by: row.updated_by } };
}

/** Names and metadata only, never values. */
export async function listSecretVariables(db: DbOrTx, accountId: string, scope: SecretScope, scopeId: string): Promise<SecretVariableInfo[]> {
  return db.selectFrom('secret_variables').select(['name', 'scope', 'updated_at', 'updated_by'])
    .where('account_id', '=', accountId).where('scope', '=', scope).where('scope_id', '=', scopeId)
    .orderBy('name').execute();
}

export async function deleteSecretVariable(db: DbOrTx, accountId: string, scope: SecretScope, scopeId: string, name: string): Promise<boolean> {
  const r = await db.deleteFrom('secret_variables')
    .where('account_id', '=', accountId).where('scope', '=', scope).where('scope_id', '=', scopeId).where('name', '=', name)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * The ciphertexts a state's runs get: its stack code's secrets, overridden by the state's own of the
 * same name. Only rows of the state's own account.
 */
export async function secretsOfState(db: DbOrTx, accountId: string, stateId: string): Promise<SecretVariableRow[]> {
  const state = await db.selectFrom('stack_states').select(['stack_code_id']).where('id', '=', stateId).where('account_id', '=', accountId).executeTakeFirst();
  if (!state) return [];
  const rows = await db.selectFrom('secret_variables').selectAll().where('account_id', '=', accountId)
    .where((eb) => eb.or([
      eb.and([eb('scope', '=', 'state'), eb('scope_id', '=', stateId)]),
      ...(state.stack_code_id ? [eb.and([eb('scope', '=', 'stack_code'), eb('scope_id', '=', state.stack_code_id)])] : []),
    ]))
    .execute();
  const byName = new Map<string, SecretVariableRow>();
  for (const r of rows) {
    const had = byName.get(r.name);
    if (!had || (had.scope === 'stack_code' && r.scope === 'state')) byName.set(r.name, r);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}
