/**
 * Account policies (issue 15): policies an admin sets for the whole account, applied to every stack
 * its selector matches in addition to the stack's own policies (a stack cannot drop or override
 * them). Same language as a repository's policies/*.hcl (policies/README.md): one `policy` block per
 * account policy, named like the route.
 *
 *   GET    /api/policies                 (viewer)
 *   GET    /api/policies/:name           (viewer)
 *   PUT    /api/policies/:name {hcl, selector?: {environment?, repository?, path?}}   (admin)
 *   DELETE /api/policies/:name           (admin)
 *
 * A run reads them when it starts (its context): a change applies to runs started afterwards.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { deleteAccountPolicy, getAccountPolicy, listAccountPolicies, putAccountPolicy } from '../../db/repos/account-policies';
import type { AccountPolicy } from '../../db/tables/account-policies';
import { POLICY_NAME, formatPolicyError, globToRegExp } from '../../policies';
import { parsePolicyFiles } from '../../policies/parse';
import type { RouteContext } from '../context';
import { ApiError, notFound } from '../errors';
import { parseBody } from '../validation';

const Selector = z.strictObject({
  environment: z.string().min(1).max(200).optional(),
  repository: z.string().min(1).max(2000).optional(),
  path: z.string().min(1).max(500).refine((g) => { try { globToRegExp(g); return true; } catch { return false; } }, 'not a valid glob').optional(),
});

const PutBody = z.strictObject({
  hcl: z.string().min(1).max(64 * 1024),
  selector: Selector.default({}),
});

const view = (r: AccountPolicy) => ({
  name: r.name, selector: r.selector, hcl: r.source, policy: r.policy, updated_by: r.updated_by, created_at: r.created_at, updated_at: r.updated_at,
});

export async function policyRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;
  const nameParam = (params: unknown): string => {
    const { name } = params as { name: string };
    if (!POLICY_NAME.test(name) || name.length > 100) throw new ApiError(400, 'invalid_request', 'name: letters, digits, _ and -, starting with a letter or _ (at most 100)');
    return name;
  };

  app.get('/api/policies', async (req) => ({ items: (await listAccountPolicies(db, req.principal.accountId)).map(view) }));

  app.get('/api/policies/:name', async (req) => {
    const row = await getAccountPolicy(db, req.principal.accountId, nameParam(req.params));
    if (!row) throw notFound('policy');
    return view(row);
  });

  app.put('/api/policies/:name', async (req, reply) => {
    const name = nameParam(req.params);
    const body = parseBody(PutBody, req.body);
    const file = `account-policies/${name}.hcl`;
    const loaded = await parsePolicyFiles([{ path: file, text: body.hcl }]);
    if (loaded.errors.length) throw new ApiError(400, 'invalid_policy', `hcl: ${loaded.errors.map(formatPolicyError).join('; ')}`);
    if (Object.keys(loaded.hooks).length) throw new ApiError(400, 'invalid_policy', 'hcl: hooks are defined per repository (policies/*.hcl), not as account policies');
    const names = Object.keys(loaded.policies);
    if (names.length !== 1 || names[0] !== name) {
      throw new ApiError(400, 'invalid_policy', `hcl: must define exactly one policy block, named "${name}" (found ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'none'})`);
    }
    const { row, created } = await putAccountPolicy(db, {
      accountId: req.principal.accountId, name, source: body.hcl, policy: loaded.policies[name], selector: body.selector, updatedBy: req.user,
    });
    ctx.logger.info({ policy: name, selector: body.selector, user: req.user, created }, 'account policy set');
    return reply.status(created ? 201 : 200).send(view(row));
  });

  app.delete('/api/policies/:name', async (req, reply) => {
    const name = nameParam(req.params);
    if (!(await deleteAccountPolicy(db, req.principal.accountId, name))) throw notFound('policy');
    ctx.logger.info({ policy: name, user: req.user }, 'account policy removed');
    return reply.status(204).send();
  });
}
