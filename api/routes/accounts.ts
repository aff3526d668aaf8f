/**
 * Accounts (tenants). `GET /api/accounts`: the accounts the caller belongs to, and no other.
 * `POST /api/accounts {name}`: for platform admins only, i.e. admins of the api's platform account
 * (`STACKLY_ACCOUNT`, the one scripts/dev and the first install make); an admin of any other account
 * manages that account, never makes new ones. Creation is durable and retry-safe:
 *   1. the row, `provisioning` (a retry of the same name finds it and goes on);
 *   2. the account's Vault Transit key `temporal-<namespace>` (kept when it exists);
 *   3. its Temporal namespace `<TEMPORAL_NAMESPACE>-<name>` with Stackly's search attributes (kept
 *      when it exists), waited for until Temporal serves it;
 *   4. in one transaction: the caller made admin of it (a user), an admin API key of the new account
 *      acting for the caller (shown once in the answer), and the row `ready`.
 * A failure at 2 or 3 answers 503 and leaves the row `provisioning`: the same request again completes it.
 * Workers serve ready accounts' namespaces (workers/README.md), picking new ones up without a restart.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { generateApiKey } from '../../common/api-keys';
import { accountsInNamespace, beginAccount, markAccountReady } from '../../db/repos/accounts';
import { getAccount, insertApiKey, membershipsOf, setMembership } from '../../db/repos/people';
import type { RouteContext } from '../context';
import { ApiError } from '../errors';
import { parseBody } from '../validation';

const CreateAccount = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, starting with a letter or digit (1–63)'),
});

export async function accountRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  app.get('/api/accounts', async (req) => {
    const p = req.principal;
    if (!p.userId) {
      // A key of no user acts in its one account only.
      const a = await getAccount(db, p.accountId);
      return { items: a ? [{ id: a.id, name: a.name, namespace: a.temporal_namespace, status: a.status, role: p.role }] : [] };
    }
    const mine = await membershipsOf(db, p.userId);
    const items = [];
    for (const m of mine) {
      const a = await getAccount(db, m.account_id);
      if (a) items.push({ id: a.id, name: a.name, namespace: a.temporal_namespace, status: a.status, role: m.role });
    }
    return { items };
  });

  app.post('/api/accounts', async (req, reply) => {
    const p = req.principal;
    if (p.accountId !== ctx.platformAccountId) {
      const platform = await getAccount(db, ctx.platformAccountId);
      throw new ApiError(403, 'forbidden', `creating accounts needs the admin role in the platform account ${platform?.name ?? ctx.platformAccountId}; ${p.name} acts in account ${p.accountName}`);
    }
    const body = parseBody(CreateAccount, req.body);
    const prov = ctx.provisioner;
    if (!prov) throw new ApiError(503, 'provisioning_unavailable', 'this api cannot make accounts (no Temporal/Vault provisioner configured)');
    const namespace = prov.namespaceFor(body.name);
    const { account, created } = await beginAccount(db, { name: body.name, temporalNamespace: namespace, transitKey: prov.transitKeyFor(namespace) });
    if (!created && account.status === 'ready') throw new ApiError(409, 'account_exists', `account ${body.name} exists already`);
    if ((await accountsInNamespace(db, account.temporal_namespace, account.id)).length) {
      throw new ApiError(409, 'namespace_taken', `Temporal namespace ${account.temporal_namespace} belongs to another account`);
    }
    try {
      await prov.ensureTransitKey(account.temporal_namespace);
    } catch (e) {
      req.log.error({ account: body.name, err: (e as Error).message }, 'creating the account\'s Transit key failed');
      throw new ApiError(503, 'vault_unavailable', `creating account ${body.name}: its Transit key could not be made (${(e as Error).message}); the account is left provisioning, retry the same request`);
    }
    try {
      await prov.ensureNamespace(account.temporal_namespace, body.name);
    } catch (e) {
      req.log.error({ account: body.name, err: (e as Error).message }, 'registering the account\'s namespace failed');
      throw new ApiError(503, 'temporal_unavailable', `creating account ${body.name}: its Temporal namespace ${account.temporal_namespace} could not be registered (${(e as Error).message}); the account is left provisioning, retry the same request`);
    }
    const k = generateApiKey();
    const { ready, key } = await db.transaction().execute(async (tx) => {
      if (p.userId) await setMembership(tx, account.id, p.userId, 'admin');
      const key = await insertApiKey(tx, { accountId: account.id, userId: p.userId, name: `${body.name}-admin`, role: 'admin', prefix: k.prefix, hash: k.hash, expiresAt: null });
      return { ready: await markAccountReady(tx, account.id), key };
    });
    req.log.info({ account: ready.name, namespace: ready.temporal_namespace, by: p.name, resumed: !created }, 'account created');
    return reply.status(201).send({
      id: ready.id, name: ready.name, namespace: ready.temporal_namespace, transit_key: ready.transit_key, status: ready.status, role: 'admin',
      // Shown once: an admin key of the new account acting for the caller (for a user, also a member now).
      api_key: { id: key.id, name: key.name, prefix: key.prefix, role: key.role, key: k.key },
    });
  });
}
