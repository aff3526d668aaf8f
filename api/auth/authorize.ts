/** The REST routes' gate: authenticate the caller, then check their role against the route's (api/auth/roles.ts). */
import type { FastifyRequest } from 'fastify';
import type { RouteContext } from '../context';
import { ApiError } from '../errors';
import { roleAtLeast, roleFor, type Role } from './roles';

/** Sets req.principal and req.user; 401 without a valid credential, 403 when the role is short (naming it). */
export async function authorize(ctx: Pick<RouteContext, 'authenticate'>, req: FastifyRequest, need?: Role): Promise<void> {
  const principal = await ctx.authenticate(req);
  req.principal = principal;
  req.user = principal.name;
  const role = need ?? roleFor(req.method, req.routeOptions.url);
  if (!role) throw new ApiError(403, 'forbidden', `${req.method} ${req.routeOptions.url ?? req.url} is not open to any role`);
  if (!roleAtLeast(principal.role, role)) {
    throw new ApiError(403, 'forbidden', `${req.method} ${req.routeOptions.url ?? req.url} needs the ${role} role in account ${principal.accountName}; ${principal.name} has ${principal.role}`);
  }
}
