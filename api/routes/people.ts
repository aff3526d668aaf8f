/**
 * Who am I (`GET /api/me`) and the account's API keys: made by an admin with a role no higher than
 * their own, shown once at creation, stored only as a hash, listed by prefix with their last use,
 * revoked at once.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { generateApiKey } from '../../common/api-keys';
import { isUuid } from '../../db/repos/stack-codes';
import { getUser, insertApiKey, listApiKeys, membershipsOf, revokeApiKey } from '../../db/repos/people';
import type { ApiKey } from '../../db/tables/people';
import { ROLES, roleAtLeast } from '../auth/roles';
import type { RouteContext } from '../context';
import { ApiError, notFound } from '../errors';
import { parseBody } from '../validation';

const CreateKey = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, 'letters, digits, space, _ . - (1–64, starting with a letter or digit)'),
  role: z.enum(ROLES),
  expires_in_days: z.number().int().min(1).max(3650).optional(),
});

const keyView = (k: ApiKey) => ({
  id: k.id, name: k.name, role: k.role, prefix: k.prefix, user_id: k.user_id,
  created_at: k.created_at, expires_at: k.expires_at, last_used_at: k.last_used_at, revoked_at: k.revoked_at,
  status: k.revoked_at ? 'revoked' : k.expires_at && k.expires_at.getTime() <= Date.now() ? 'expired' : 'active',
});

export async function peopleRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  app.get('/api/me', async (req) => {
    const p = req.principal;
    const user = p.userId ? await getUser(db, p.userId) : undefined;
    const accounts = p.userId ? (await membershipsOf(db, p.userId)).map((m) => ({ id: m.account_id, name: m.account_name, role: m.role })) : [{ id: p.accountId, name: p.accountName, role: p.role }];
    return {
      kind: p.kind, name: p.name,
      user: user ? { id: user.id, login: user.login, email: user.email, name: user.name, provider: user.provider } : null,
      api_key_id: p.apiKeyId,
      account: { id: p.accountId, name: p.accountName, namespace: p.namespace, role: p.role },
      accounts, groups: p.groups,
    };
  });

  app.post('/api/api-keys', async (req, reply) => {
    const body = parseBody(CreateKey, req.body);
    const p = req.principal;
    if (!roleAtLeast(p.role, body.role)) throw new ApiError(403, 'forbidden', `role: ${p.name} has ${p.role} and cannot make a key with ${body.role}`);
    const k = generateApiKey();
    const expiresAt = body.expires_in_days ? new Date(Date.now() + body.expires_in_days * 86_400_000) : null;
    const row = await insertApiKey(db, { accountId: p.accountId, userId: p.userId, name: body.name, role: body.role, prefix: k.prefix, hash: k.hash, expiresAt });
    req.log.info({ keyId: row.id, prefix: row.prefix, role: row.role, by: p.name }, 'api key created');
    // The key itself is in this answer only; it is never stored or shown again.
    return reply.status(201).send({ ...keyView(row), key: k.key });
  });

  app.get('/api/api-keys', async (req) => ({ items: (await listApiKeys(db, req.principal.accountId)).map(keyView) }));

  app.delete('/api/api-keys/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!isUuid(id) || !(await revokeApiKey(db, req.principal.accountId, id))) throw notFound('api key');
    req.log.info({ keyId: id, by: req.principal.name }, 'api key revoked');
    return reply.status(204).send();
  });
}
