/**
 * What stacks may run on and reach (issue 15), set by admins of the account:
 * - worker pools bound to a repository or the account (`GET|PUT /api/worker-pools/bindings`;
 *   activities/pools.ts says how routing and workers apply them);
 * - address ranges webhook hooks may reach although private, loopback or link-local
 *   (`GET|PUT /api/hooks/allowed-addresses`; activities/hook-targets.ts);
 * - the `STACKLY_HOOK_*` names a repository's hooks may use (`GET /api/repositories/:id/hook-env`,
 *   `PUT|DELETE /api/repositories/:id/hook-env/:name`).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { normaliseCidr } from '../../activities/hook-targets';
import { addHookAddress, listHookAddresses, removeHookAddress } from '../../db/repos/hook-address-allowlist';
import { grantHookEnv, listHookEnvGrants, revokeHookEnv } from '../../db/repos/hook-env-grants';
import { getRepositoryById } from '../../db/repos/repositories';
import { listPoolBindings, setPoolBindings } from '../../db/repos/worker-pool-bindings';
import { HOOK_ENV_NAME } from '../../policies/hooks';
import type { RouteContext } from '../context';
import { badRequest, notFound } from '../errors';
import { parseBody } from '../validation';

const POOL_NAME = /^[A-Za-z0-9_.-]{1,63}$/;
const BindingBody = z.strictObject({
  repository_id: z.string().uuid().nullable().optional(),
  pools: z.array(z.string().regex(POOL_NAME, 'a pool name is 1-63 of letters, digits, _ . -')).max(50),
});
const AllowBody = z.strictObject({ cidrs: z.array(z.string().max(64)).max(200) });

export async function executionBindingRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  const bindingsView = async (accountId: string) => {
    const rows = await listPoolBindings(db, accountId);
    const byRepo = new Map<string | null, string[]>();
    for (const r of rows) byRepo.set(r.repository_id, [...(byRepo.get(r.repository_id) ?? []), r.pool]);
    return {
      account: byRepo.get(null) ?? [],
      repositories: [...byRepo.entries()].filter(([k]) => k !== null).map(([repository_id, pools]) => ({ repository_id, pools })),
      default: 'a repository with no binding of its own uses its account\'s; with neither, only workers without a pool label',
    };
  };

  app.get('/api/worker-pools/bindings', async (req) => bindingsView(req.principal.accountId));

  app.put('/api/worker-pools/bindings', async (req) => {
    const body = parseBody(BindingBody, req.body);
    const repositoryId = body.repository_id ?? null;
    if (repositoryId && !(await getRepositoryById(db, repositoryId).then((r) => r?.account_id === req.principal.accountId))) throw notFound('repository');
    await setPoolBindings(db, { accountId: req.principal.accountId, repositoryId, pools: body.pools, by: req.principal.name });
    return bindingsView(req.principal.accountId);
  });

  const allowView = async (accountId: string) => ({ cidrs: (await listHookAddresses(db, accountId)).map((r) => r.cidr) });

  app.get('/api/hooks/allowed-addresses', async (req) => allowView(req.principal.accountId));

  /** Replaces the account's allow-list. */
  app.put('/api/hooks/allowed-addresses', async (req) => {
    const body = parseBody(AllowBody, req.body);
    const want: string[] = [];
    for (const [i, c] of body.cidrs.entries()) {
      const n = normaliseCidr(c);
      if ('error' in n) throw badRequest(`cidrs.${i}: ${n.error}`, 'invalid_request');
      want.push(n.cidr);
    }
    const have = (await listHookAddresses(db, req.principal.accountId)).map((r) => r.cidr);
    await db.transaction().execute(async (tx) => {
      for (const c of have) if (!want.includes(c)) await removeHookAddress(tx, req.principal.accountId, c);
      for (const c of want) await addHookAddress(tx, req.principal.accountId, c, req.principal.name);
    });
    return allowView(req.principal.accountId);
  });

  const repoOf = async (accountId: string, id: string) => {
    const r = z.string().uuid().safeParse(id).success ? await getRepositoryById(db, id) : undefined;
    if (!r || r.account_id !== accountId) throw notFound('repository');
    return r;
  };

  app.get('/api/repositories/:id/hook-env', async (req) => {
    const r = await repoOf(req.principal.accountId, (req.params as { id: string }).id);
    return { names: (await listHookEnvGrants(db, req.principal.accountId, r.id)).map((g) => ({ name: g.env_name, granted_by: g.created_by, granted_at: g.created_at.toISOString() })) };
  });

  app.put('/api/repositories/:id/hook-env/:name', async (req, reply) => {
    const { id, name } = req.params as { id: string; name: string };
    if (!HOOK_ENV_NAME.test(name)) throw badRequest(`name "${name.slice(0, 80)}" must match STACKLY_HOOK_[A-Z0-9_]+`, 'invalid_request');
    const r = await repoOf(req.principal.accountId, id);
    await grantHookEnv(db, { accountId: req.principal.accountId, repositoryId: r.id, name, by: req.principal.name });
    return reply.code(204).send();
  });

  app.delete('/api/repositories/:id/hook-env/:name', async (req, reply) => {
    const { id, name } = req.params as { id: string; name: string };
    const r = await repoOf(req.principal.accountId, id);
    if (!(await revokeHookEnv(db, req.principal.accountId, r.id, name))) throw notFound(`grant of ${name.slice(0, 80)}`);
    return reply.code(204).send();
  });
}
