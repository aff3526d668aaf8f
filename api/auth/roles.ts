/**
 * Roles per account and what each route needs. Roles are cumulative: viewer (read) < operator (start
 * and cancel runs) < approver (approve and reject) < admin (repositories, keys, members, groups,
 * policies, unlocking states). Every REST route is in ROUTE_ROLES; a route missing from it answers
 * 403 (fail closed), and a test walks every registered route against every role.
 */
import { ROLES, type Role } from '../../db/tables/people';

export { ROLES, type Role };

export const roleAtLeast = (have: Role, need: Role): boolean => ROLES.indexOf(have) >= ROLES.indexOf(need);

/** The lower of two roles (an API key never does more than its user may). */
export const lowerRole = (a: Role, b: Role): Role => (ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b);

/** `METHOD /route/pattern` (as Fastify registers it) → the least role that may call it. */
export const ROUTE_ROLES: Readonly<Record<string, Role>> = {
  'GET /api/me': 'viewer',
  'GET /api/accounts': 'viewer',
  // Also only in the platform account (api/routes/accounts.ts).
  'POST /api/accounts': 'admin',
  'GET /api/repositories': 'viewer',
  'GET /api/repositories/:id': 'viewer',
  'POST /api/repositories': 'admin',
  'PUT /api/repositories/:id/github': 'admin',
  'DELETE /api/repositories/:id/github': 'admin',
  'PUT /api/repositories/:id/webhook-secret': 'admin',
  'GET /api/stack-codes': 'viewer',
  'GET /api/stack-codes/:id': 'viewer',
  'GET /api/states': 'viewer',
  'GET /api/states/:id': 'viewer',
  'POST /api/states/:id/runs': 'operator',
  'POST /api/states/:id/destroy': 'operator',
  'POST /api/states/:id/reassociate': 'admin',
  'POST /api/states/:id/unlock': 'admin',
  'GET /api/states/:id/drift': 'viewer',
  'POST /api/states/:id/drift': 'operator',
  'GET /api/operations': 'viewer',
  'GET /api/operations/:id': 'viewer',
  'GET /api/events': 'viewer',
  'GET /api/events/:id': 'viewer',
  'GET /api/runs/:id': 'viewer',
  'GET /api/runs/:id/logs': 'viewer',
  'POST /api/runs/:id/cancel': 'operator',
  'POST /api/runs/:id/approve': 'approver',
  'POST /api/runs/:id/reject': 'approver',
  'GET /api/api-keys': 'admin',
  'POST /api/api-keys': 'admin',
  'DELETE /api/api-keys/:id': 'admin',
  'GET /api/policies': 'viewer',
  'GET /api/policies/:name': 'viewer',
  'PUT /api/policies/:name': 'admin',
  'DELETE /api/policies/:name': 'admin',
  'GET /api/members': 'admin',
  'PUT /api/members/:userId': 'admin',
  'DELETE /api/members/:userId': 'admin',
  'PUT /api/members/:userId/groups/:group': 'admin',
  'DELETE /api/members/:userId/groups/:group': 'admin',
  'GET /webhooks/github/deliveries/:id': 'viewer',
  // Secret variables: names only to viewers; setting and deleting values is for admins (api/routes/secrets.ts).
  'GET /api/states/:id/secrets': 'viewer',
  'PUT /api/states/:id/secrets/:name': 'admin',
  'DELETE /api/states/:id/secrets/:name': 'admin',
  'GET /api/stack-codes/:id/secrets': 'viewer',
  'PUT /api/stack-codes/:id/secrets/:name': 'admin',
  'DELETE /api/stack-codes/:id/secrets/:name': 'admin',
  // What stacks may run on and reach (api/routes/execution-bindings.ts): admins only.
  'GET /api/worker-pools/bindings': 'admin',
  'PUT /api/worker-pools/bindings': 'admin',
  'GET /api/hooks/allowed-addresses': 'admin',
  'PUT /api/hooks/allowed-addresses': 'admin',
  'GET /api/repositories/:id/hook-env': 'admin',
  'PUT /api/repositories/:id/hook-env/:name': 'admin',
  'DELETE /api/repositories/:id/hook-env/:name': 'admin',
};

export function roleFor(method: string, url: string | undefined): Role | undefined {
  return url === undefined ? undefined : ROUTE_ROLES[`${method.toUpperCase()} ${url}`];
}
