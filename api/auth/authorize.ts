/** The REST routes' gate: authenticate the caller, then check their role against the route's (api/auth/roles.ts). */
import type { FastifyRequest } from 'fastify';
import type { RouteContext } from '../context';
import type { Principal } from './principal';
import { ApiError } from '../errors';
import { roleAtLeast, roleFor, type Role } from './roles';

/**
 * Sets req.principal and req.user; 401 without a valid credential, 403 when the role is short (naming
 * it). Rate limits (api/rate-limit.ts) run in between: after authentication, so they count the
 * principal (its credential and account), and before the role check, so refused calls count too; a
 * request without a valid credential counts against its address. 429 past a limit.
 */
export async function authorize(ctx: Pick<RouteContext, 'authenticate' | 'rateLimiter'>, req: FastifyRequest, need?: Role): Promise<void> {
  let principal: Principal;
  try {
    principal = await ctx.authenticate(req);
  } catch (e) {
    if (ctx.rateLimiter && e instanceof ApiError) await ctx.rateLimiter.address(req);
    throw e;
  }
  req.principal = principal;
  req.user = principal.name;
  await ctx.rateLimiter?.principal(req);
  const role = need ?? roleFor(req.method, req.routeOptions.url);
  if (!role) throw new ApiError(403, 'forbidden', `${req.method} ${req.routeOptions.url ?? req.url} is not open to any role`);
  if (!roleAtLeast(principal.role, role)) {
    throw new ApiError(403, 'forbidden', `${req.method} ${req.routeOptions.url ?? req.url} needs the ${role} role in account ${principal.accountName}; ${principal.name} has ${principal.role}`);
  }
}
