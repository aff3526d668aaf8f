/**
 * An account's members (admin role): who they are, their role, and their groups for approval
 * policies. An admin sets a member's role (`source: admin`, which sign-in's role mappings never
 * change), removes a member, and maps a member to a group in this account (user_groups, source admin)
 * next to the groups the identity provider gives. The last admin of an account cannot be demoted or
 * removed (409), so an account always has someone who can manage it.
 *
 *   GET    /api/members
 *   PUT    /api/members/:userId {role}
 *   DELETE /api/members/:userId
 *   PUT    /api/members/:userId/groups/:group
 *   DELETE /api/members/:userId/groups/:group
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isUuid } from '../../db/repos/stack-codes';
import {
  addAdminGroup, adminGroupsOf, countAdmins, getMembership, getUser, groupsOf, listMembers, removeAdminGroup, removeMembership,
  setMemberRoleByAdmin,
} from '../../db/repos/people';
import { ROLES } from '../auth/roles';
import type { RouteContext } from '../context';
import { ApiError, notFound } from '../errors';
import { parseBody } from '../validation';

const SetRole = z.strictObject({ role: z.enum(ROLES) });
/** Names an approval policy's allowed_groups can list: GitHub `org/team`, OIDC group names, paths. */
const GROUP = /^[A-Za-z0-9][A-Za-z0-9 _.:@/+-]{0,127}$/;

export async function memberRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;

  const userParam = (params: unknown): string => {
    const { userId } = params as { userId: string };
    if (!isUuid(userId)) throw new ApiError(400, 'invalid_request', 'userId: not a user id (uuid)');
    return userId;
  };
  const groupParam = (params: unknown): string => {
    const { group } = params as { group: string };
    if (!GROUP.test(group)) throw new ApiError(400, 'invalid_request', 'group: 1–128 of letters, digits, space and _ . : @ / + - (URL-encode the /), starting with a letter or digit');
    return group;
  };
  const memberOrThrow = async (accountId: string, userId: string) => {
    const m = await getMembership(db, accountId, userId);
    if (!m) throw notFound('member');
    return m;
  };
  /** Refuses to leave the account without an admin. */
  const keepAnAdmin = async (accountId: string, userId: string, what: string) => {
    const m = await getMembership(db, accountId, userId);
    if (m?.role === 'admin' && (await countAdmins(db, accountId)) <= 1) {
      throw new ApiError(409, 'last_admin', `${what}: this is the account's last admin; make another admin first`);
    }
  };

  app.get('/api/members', async (req) => {
    const accountId = req.principal.accountId;
    const members = await listMembers(db, accountId);
    return {
      items: await Promise.all(members.map(async (m) => ({
        user_id: m.user_id, login: m.login, email: m.email, name: m.name, provider: m.provider, role: m.role, source: m.source,
        last_login_at: m.last_login_at, member_since: m.created_at,
        groups: await groupsOf(db, m.user_id, accountId), admin_groups: await adminGroupsOf(db, m.user_id, accountId),
      }))),
    };
  });

  app.put('/api/members/:userId', async (req) => {
    const userId = userParam(req.params);
    const { role } = parseBody(SetRole, req.body);
    const p = req.principal;
    if (!(await getUser(db, userId))) throw notFound('user');
    if (role !== 'admin') await keepAnAdmin(p.accountId, userId, `role: making ${userId} ${role}`);
    await setMemberRoleByAdmin(db, p.accountId, userId, role);
    req.log.info({ member: userId, role, by: p.name }, 'member role set');
    return { user_id: userId, account: p.accountName, role, source: 'admin' };
  });

  app.delete('/api/members/:userId', async (req, reply) => {
    const userId = userParam(req.params);
    const p = req.principal;
    await memberOrThrow(p.accountId, userId);
    await keepAnAdmin(p.accountId, userId, `removing member ${userId}`);
    if (!(await removeMembership(db, p.accountId, userId))) throw notFound('member');
    req.log.info({ member: userId, by: p.name }, 'member removed');
    return reply.status(204).send();
  });

  app.put('/api/members/:userId/groups/:group', async (req) => {
    const userId = userParam(req.params);
    const group = groupParam(req.params);
    const p = req.principal;
    await memberOrThrow(p.accountId, userId);
    await addAdminGroup(db, p.accountId, userId, group);
    req.log.info({ member: userId, group, by: p.name }, 'member mapped to a group');
    return { user_id: userId, group, groups: await groupsOf(db, userId, p.accountId) };
  });

  app.delete('/api/members/:userId/groups/:group', async (req, reply) => {
    const userId = userParam(req.params);
    const group = groupParam(req.params);
    const p = req.principal;
    if (!(await removeAdminGroup(db, p.accountId, userId, group))) throw notFound('group mapping');
    req.log.info({ member: userId, group, by: p.name }, 'member unmapped from a group');
    return reply.status(204).send();
  });
}
