/**
 * Secret variables (write-only): `PUT|DELETE /api/states/:id/secrets/:name` and
 * `/api/stack-codes/:id/secrets/:name` (admin), `GET …/secrets` (viewer: names, scope, who set them
 * and when; never values). A value is sealed with the account's Transit key (common/secret-variables.ts)
 * before it is stored; no answer, log line or event carries it. A state's own secret wins over its
 * stack code's of the same name.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { getAccountById } from '../../db/repos/accounts';
import { recordEvent } from '../../db/repos/events';
import { deleteSecretVariable, listSecretVariables, upsertSecretVariable, type SecretVariableInfo } from '../../db/repos/secret-variables';
import { getStackCode } from '../../db/repos/stack-codes';
import { getState } from '../../db/repos/stack-states';
import {
  accountTransitKey, MAX_SECRETS_PER_SCOPE, sealSecret, secretNameProblem, secretValueProblem, type SecretScopeKind,
} from '../../common/secret-variables';
import type { RouteContext } from '../context';
import { ApiError, badRequest, notFound } from '../errors';

// The value is checked by hand (secretValueProblem), so no validation message can ever quote it.
const Body = z.strictObject({ value: z.unknown() });

const view = (s: SecretVariableInfo) => ({ name: s.name, scope: s.scope, updated_at: s.updated_at.toISOString(), updated_by: s.updated_by });

export async function secretRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  /** The state's or stack code's id, and its ids for events; 404 when it is not the caller's account's. */
  async function target(req: FastifyRequest, scope: SecretScopeKind): Promise<{ scopeId: string; stackCodeId: string | null; stateId: string | null }> {
    const { id } = req.params as { id: string };
    if (scope === 'state') {
      const s = await getState(db, req.principal.accountId, id);
      if (!s) throw notFound('state');
      return { scopeId: s.id, stackCodeId: s.stack_code_id, stateId: s.id };
    }
    const c = await getStackCode(db, req.principal.accountId, id);
    if (!c) throw notFound('stack code');
    return { scopeId: c.id, stackCodeId: c.id, stateId: null };
  }

  function checkedName(req: FastifyRequest): string {
    const { name } = req.params as { name: string };
    const problem = secretNameProblem(name);
    if (problem) throw badRequest(`secret name "${name.slice(0, 140)}": ${problem}`, 'invalid_secret_name');
    return name;
  }

  for (const [prefix, scope] of [['/api/states/:id', 'state'], ['/api/stack-codes/:id', 'stack_code']] as const) {
    app.get(`${prefix}/secrets`, async (req) => {
      const t = await target(req, scope);
      return { secrets: (await listSecretVariables(db, req.principal.accountId, scope, t.scopeId)).map(view) };
    });

    app.put(`${prefix}/secrets/:name`, async (req, reply) => {
      const name = checkedName(req);
      const t = await target(req, scope);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const parsed = Body.safeParse(body);
      if (!parsed.success) throw badRequest('the body must be {"value": "<the secret>"} and nothing else', 'invalid_request');
      const problem = secretValueProblem(parsed.data.value);
      if (problem) throw badRequest(`value: ${problem}`, 'invalid_secret_value');
      const box = ctx.secretBoxFor;
      if (!box) throw new ApiError(503, 'secrets_unavailable', 'secret variables need Vault Transit, which this api is not configured with');
      const existing = await listSecretVariables(db, req.principal.accountId, scope, t.scopeId);
      if (!existing.some((s) => s.name === name) && existing.length >= MAX_SECRETS_PER_SCOPE) {
        throw badRequest(`at most ${MAX_SECRETS_PER_SCOPE} secrets per ${scope === 'state' ? 'state' : 'stack code'}`, 'too_many_secrets');
      }
      const account = await getAccountById(db, req.principal.accountId);
      if (!account) throw notFound('account');
      let valueEnc: string;
      try {
        valueEnc = await sealSecret(box(accountTransitKey(account)), { accountId: account.id, scope, scopeId: t.scopeId, name }, parsed.data.value as string);
      } catch (e) {
        ctx.logger.error({ err: (e as Error).message, secret: name }, 'sealing a secret variable failed');
        throw new ApiError(503, 'secrets_unavailable', 'cannot encrypt the secret right now (Vault Transit)');
      }
      const { created, row } = await upsertSecretVariable(db, { accountId: account.id, scope, scopeId: t.scopeId, name, valueEnc, by: req.principal.name });
      await recordEvent(db, {
        accountId: account.id, stackCodeId: t.stackCodeId, stackStateId: t.stateId, type: 'secret_variable_set',
        payload: { name, scope, by: req.principal.name },
      });
      return reply.code(created ? 201 : 200).send(view(row));
    });

    app.delete(`${prefix}/secrets/:name`, async (req, reply) => {
      const name = checkedName(req);
      const t = await target(req, scope);
      if (!(await deleteSecretVariable(db, req.principal.accountId, scope, t.scopeId, name))) throw notFound(`secret ${name}`);
      await recordEvent(db, {
        accountId: req.principal.accountId, stackCodeId: t.stackCodeId, stackStateId: t.stateId, type: 'secret_variable_deleted',
        payload: { name, scope, by: req.principal.name },
      });
      return reply.code(204).send();
    });
  }
}
