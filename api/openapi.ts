/**
 * The OpenAPI 3.1 description of the api, written by hand next to the routes (served at
 * GET /openapi.json). A route added in routes/ gets its entry here.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponses = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const pageParams = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
];
const page = (item: string) => ({
  type: 'object', required: ['items', 'next_cursor'],
  properties: { items: { type: 'array', items: ref(item) }, next_cursor: { type: ['string', 'null'] } },
});
const filter = (name: string, description: string) => ({ name, in: 'query', schema: { type: 'string' }, description });

function listAndShow(path: string, tag: string, schema: string, filters: unknown[] = []) {
  return {
    [path]: { get: { tags: [tag], summary: `List ${tag}`, parameters: [...pageParams, ...filters], responses: { 200: { description: 'a page', ...json(page(schema)) }, ...errorResponses(400, 401) } } },
    [`${path}/{id}`]: { get: { tags: [tag], summary: `Show one of ${tag}`, parameters: [idParam], responses: { 200: { description: 'found', ...json(ref(schema)) }, ...errorResponses(401, 404) } } },
  };
}

const ts = { type: 'string', format: 'date-time' };
const str = { type: 'string' };
const nstr = { type: ['string', 'null'] };

export const openapi = {
  openapi: '3.1.0',
  info: { title: 'Stackly API', version: '0.1.0', description: 'GitHub webhook receiver and REST API of Stackly. REST routes need `Authorization: Bearer <token>`; the webhook route is authenticated by its signature.' },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer' },
      githubSignature: { type: 'apiKey', in: 'header', name: 'X-Hub-Signature-256', description: 'HMAC-SHA256 of the raw body (sha256=<hex>) with the repository\'s webhook secret, or the global one' },
    },
    responses: Object.fromEntries([400, 401, 404, 409, 413, 503].map((c) => [`E${c}`, { description: `error ${c}`, ...json(ref('Error')) }])),
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: str, message: str } } } },
      TokenPair: {
        type: 'object', required: ['token_type', 'access_token', 'expires_in', 'refresh_token', 'refresh_expires_at'],
        properties: { token_type: { const: 'Bearer' }, access_token: str, expires_in: { type: 'integer' }, refresh_token: str, refresh_expires_at: ts },
      },
      Repository: { type: 'object', properties: { id: str, url: str, tracked_branch: str, has_webhook_secret: { type: 'boolean' }, has_credentials: { type: 'boolean' }, github: { type: 'object', properties: { connected: { type: 'boolean' }, repository: nstr, api_url: nstr, allow_fork_prs: { type: 'boolean' } } }, created_at: ts, updated_at: ts } },
      GithubConnection: {
        type: 'object', required: ['auth'], additionalProperties: false,
        description: 'commit statuses and pull-request plans on GitHub',
        properties: {
          auth: { writeOnly: true, description: 'stored as Vault Transit ciphertext, never returned', oneOf: [
            { type: 'object', required: ['app_id', 'private_key', 'installation_id'], properties: { app_id: { type: ['integer', 'string'] }, private_key: str, installation_id: { type: ['integer', 'string'] } } },
            { type: 'object', required: ['token'], properties: { token: str } },
          ] },
          repository: { type: 'string', description: 'owner/name on GitHub; derived from a github.com URL' },
          api_url: { type: 'string', default: 'https://api.github.com' },
          allow_fork_prs: { type: 'boolean', default: false, description: 'plan pull requests whose head is in a fork (code of strangers)' },
        },
      },
      CreateRepository: {
        type: 'object', required: ['url'], additionalProperties: false,
        properties: {
          url: { type: 'string', description: 'https://, ssh://, git:// or file:// URL' },
          tracked_branch: { type: 'string', default: 'main' },
          webhook_secret: { type: 'string', minLength: 16, writeOnly: true, description: 'stored as Vault Transit ciphertext, never returned' },
          credentials: { writeOnly: true, oneOf: [
            { type: 'object', required: ['token'], properties: { token: str, username: str } },
            { type: 'object', required: ['username', 'password'], properties: { username: str, password: str } },
          ] },
          github: ref('GithubConnection'),
        },
      },
      StackCode: { type: 'object', properties: { id: str, repository_id: nstr, repo_url: str, repo_path: str, name: str, current_commit: str, status: { enum: ['active', 'invalid', 'deregistered'] }, config: { type: 'object' }, error: { type: ['object', 'null'], description: '{file, line, field, message, commit} when invalid' }, created_at: ts, updated_at: ts } },
      StackState: { type: 'object', properties: { id: str, stack_code_id: nstr, name: str, status: { enum: ['active', 'loose', 'destroying', 'destroyed'] }, commit_hash: str, commit_unreachable: { type: ['object', 'null'], description: 'set when a force push left the deployed commit unreachable from the tracked branch' }, tf_state_key: { type: 'string', description: 'prefix of the state objects, <account>/<state-id>/: derived from the id, never changes' }, legacy_tf_state_key: { type: ['string', 'null'], description: 'where the objects still are until `npm run migrate` moves them (runs refuse to plan until then)' }, generation: { type: 'integer', description: 'grows with each registration of a new commit; a run of a newer generation supersedes older ones' }, variable_names: { type: 'array', items: str }, metadata: { type: 'object' }, created_at: ts, updated_at: ts, drift_schedule: { type: ['object', 'null'], description: 'GET /api/states/{id} only: its drift schedule as the registry says it should be', properties: { schedule_id: str, cron: str, auto_remediate: { type: 'boolean' } } }, last_drift_check: { description: 'GET /api/states/{id} only: its newest drift check', oneOf: [ref('DriftCheck'), { type: 'null' }] } } },
      Operation: { type: 'object', properties: { id: str, stack_state_id: nstr, type: str, status: str, triggered_by: nstr, workflow_id: nstr, from_commit: nstr, to_commit: nstr, started_at: ts, completed_at: { type: ['string', 'null'] }, error_details: {}, metadata: {} } },
      Event: { type: 'object', properties: { id: str, type: str, stack_code_id: nstr, stack_state_id: nstr, operation_id: nstr, payload: { type: 'object' }, created_at: ts } },
      WorkflowStarted: { type: 'object', properties: { run_id: { type: 'string', description: 'the run\'s own workflow id (queued on the state\'s queue)' }, workflow_id: { type: 'string', description: 'same as run_id' }, commit: { type: 'string', description: 'the commit the run is for (runs started by hand)' } } },
      PlanCounts: { type: 'object', properties: { add: { type: 'integer' }, change: { type: 'integer' }, destroy: { type: 'integer' }, replace: { type: 'integer' } } },
      DriftCheck: {
        type: 'object', description: 'a drift check (an operation of type drift): addresses and actions only, never attribute values',
        properties: {
          id: str, workflow_id: nstr, status: str, outcome: { enum: ['drift', 'none', 'failed', null], description: 'null while queued or running' },
          commit: nstr, triggered_by: nstr, started_at: ts, completed_at: { type: ['string', 'null'] }, counts: { oneOf: [ref('PlanCounts'), { type: 'null' }] },
          resources: { type: 'array', items: { type: 'object', properties: { unit: str, address: str, type: str, actions: { type: 'array', items: str } } } },
          units: { type: 'object', additionalProperties: { type: 'object', properties: { status: { enum: ['clean', 'drift', 'failed'] }, reason: str } } },
          reason: { type: ['string', 'null'], description: 'why the check failed' },
          remediation: { type: ['object', 'null'], properties: { runId: str, needsApproval: { type: 'boolean' }, skipped: str }, description: 'drift found: the run asked for to restore it, or why none was' },
        },
      },
      Run: {
        type: 'object', required: ['operation_id', 'operation_status', 'progress'],
        properties: {
          operation_id: { type: ['string', 'null'], description: 'null in the run\'s first moments, until its workflow has recorded its operation' },
          operation_status: { type: ['string', 'null'] },
          progress: {
            type: 'object', description: 'the workflow\'s progress query',
            required: ['workflowId', 'kind', 'phase', 'commit', 'units', 'approvals'],
            properties: {
              workflowId: str, kind: { enum: ['deploy', 'destroy', 'drift'] }, commit: str, stack: str, state: str,
              phase: { enum: ['starting', 'waiting_for_worker', 'planning', 'awaiting_approval', 'queued', 'applying', 'succeeded', 'no_changes', 'failed', 'rejected', 'cancelled', 'superseded'] },
              waitingFor: { type: 'string', description: 'while queued behind another run of the same state: that run' },
              supersededBy: { type: 'string', description: 'ended superseded: the newer run that took its place' },
              waitingReason: { type: 'string', description: 'why the run waits (no matching worker, approval, deployment window)' },
              review: {
                type: 'object', description: 'summary of the review plan (the whole root against the merged unit states), once it is made',
                properties: { counts: ref('PlanCounts'), changes: { type: 'array', items: { type: 'object', properties: { address: str, actions: { type: 'array', items: str } } } } },
              },
              units: {
                type: 'object', description: 'per unit, by name',
                additionalProperties: {
                  type: 'object', properties: {
                    status: { enum: ['pending', 'planning', 'awaiting_approval', 'applying', 'succeeded', 'failed', 'skipped', 'no_changes'] },
                    reason: str, counts: ref('PlanCounts'),
                    differences: { type: 'array', description: 'why the unit asks for approval again (approve with scope "unit:<name>")', items: { type: 'object', properties: { address: str, reason: str } } },
                  },
                },
              },
              approvals: { type: 'array', items: { type: 'object', properties: { by: str, scope: str, comment: str } } },
              outputs: { type: 'object', description: 'root outputs; values of sensitive ones are withheld' },
              error: str,
            },
          },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/webhooks/github': {
      post: {
        tags: ['webhooks'], summary: 'GitHub webhook receiver', security: [{ githubSignature: [] }],
        parameters: ['X-GitHub-Event', 'X-GitHub-Delivery', 'X-Hub-Signature-256'].map((name) => ({ name, in: 'header', required: true, schema: str })),
        requestBody: { required: true, ...json({ type: 'object' }) },
        responses: {
          200: { description: 'ping answered' },
          202: { description: 'accepted: push workflow started, a duplicate, or recorded as ignored', ...json({ type: 'object', properties: { status: { enum: ['started', 'ignored', 'received'] }, workflow_id: str, reason: str, duplicate: { type: 'boolean' } } }) },
          ...errorResponses(400, 401, 413, 503),
        },
      },
    },
    '/api/repositories': {
      get: { tags: ['repositories'], summary: 'List repositories', parameters: pageParams, responses: { 200: { description: 'a page', ...json(page('Repository')) }, ...errorResponses(401) } },
      post: { tags: ['repositories'], summary: 'Register a repository', requestBody: { required: true, ...json(ref('CreateRepository')) }, responses: { 201: { description: 'registered', ...json(ref('Repository')) }, ...errorResponses(400, 401, 409, 503) } },
    },
    '/api/repositories/{id}': { get: { tags: ['repositories'], summary: 'Show a repository', parameters: [idParam], responses: { 200: { description: 'found', ...json(ref('Repository')) }, ...errorResponses(401, 404) } } },
    '/api/repositories/{id}/github': {
      put: { tags: ['repositories'], summary: 'Connect a repository to GitHub (replaces the connection)', parameters: [idParam], requestBody: { required: true, ...json(ref('GithubConnection')) }, responses: { 200: { description: 'connected', ...json(ref('Repository')) }, ...errorResponses(400, 401, 403, 404, 503) } },
      delete: { tags: ['repositories'], summary: 'Disconnect a repository from GitHub', parameters: [idParam], responses: { 200: { description: 'disconnected', ...json(ref('Repository')) }, ...errorResponses(401, 403, 404) } },
    },
    ...listAndShow('/api/stack-codes', 'stack-codes', 'StackCode', [filter('repository_id', 'repository uuid'), filter('status', 'active | invalid | deregistered')]),
    ...listAndShow('/api/states', 'states', 'StackState', [filter('stack_code_id', 'stack code uuid'), filter('status', 'active | loose | destroying | destroyed')]),
    ...listAndShow('/api/operations', 'operations', 'Operation', [filter('state_id', 'state uuid')]),
    ...listAndShow('/api/events', 'events', 'Event', [filter('stack_code_id', 'stack code uuid'), filter('state_id', 'state uuid'), filter('type', 'event type')]),
    '/api/states/{id}/reassociate': { post: { tags: ['states'], summary: 'Re-associate a loose state with another stack code', parameters: [idParam], requestBody: { required: true, ...json({ type: 'object', required: ['stack_code_id'], properties: { stack_code_id: str } }) }, responses: { 200: { description: 'updated', ...json(ref('StackState')) }, ...errorResponses(400, 401, 404, 409) } } },
    '/api/states/{id}/destroy': { post: { tags: ['states'], summary: 'Destroy a loose state (queues a destroy run on the state\'s queue; it shows a destroy review and waits for approval)', parameters: [idParam], responses: { 202: { description: 'started', ...json(ref('WorkflowStarted')) }, ...errorResponses(401, 404, 409, 503) } } },
    '/api/states/{id}/drift': {
      get: { tags: ['states'], summary: 'Drift checks of the state, newest first, with the resources each found (address, type, actions) and its remediation', parameters: [idParam, ...pageParams], responses: { 200: { description: 'a page', ...json(page('DriftCheck')) }, ...errorResponses(400, 401, 404) } },
      post: { tags: ['states'], summary: 'Check the state for drift now: queues a drift check of its deployed commit on the state\'s queue (409 drift_check_not_started naming why not: not active, never deployed, a check already queued or running)', parameters: [idParam], responses: { 202: { description: 'queued', ...json(ref('WorkflowStarted')) }, ...errorResponses(401, 404, 409, 503) } },
    },
    '/api/states/{id}/unlock': {
      post: {
        tags: ['states'],
        summary: 'Break the state lock of one unit (admins; no roles yet: every token may). Broken only when its Stackly claim names a worker process that is not alive (no heartbeat, stopped, or its worker id re-registered by a new process), or when no Stackly worker claimed it (a human\'s tofu, as `tofu force-unlock`); a live holder is never broken (409 naming it). Recorded as a `state_unlocked` event.',
        parameters: [idParam],
        requestBody: { required: true, ...json({ type: 'object', required: ['unit', 'reason'], additionalProperties: false, properties: { unit: { type: 'string', description: 'the unit whose state is locked' }, reason: { type: 'string', minLength: 1, description: 'why (stored in the event)' } } }) },
        responses: {
          200: {
            description: 'unlocked',
            ...json({
              type: 'object', properties: {
                unlocked: { type: 'boolean' }, state_id: str, unit: str, key: { type: 'string', description: 'the unit\'s state object' },
                why: { enum: ['holder_not_alive', 'unclaimed'] },
                lock: {
                  type: 'object', properties: {
                    id: str, operation: str, who: str, created: str, version: str,
                    holder: { type: ['object', 'null'], properties: { worker_id: str, incarnation: nstr, run_id: str, unit: str, phase: str, claimed_at: str } },
                  },
                },
              },
            }),
          },
          ...errorResponses(400, 401),
          404: { description: 'no such state (`not_found`), or the unit is not locked (`not_locked`)', ...json(ref('Error')) },
          409: { description: 'held by a live worker process (`lock_held`, naming worker, run, unit and phase), or the lock changed meanwhile (`lock_changed`)', ...json(ref('Error')) },
          503: { description: 'the api has no S3 settings (`s3_not_configured`) or the bucket did not answer', ...json(ref('Error')) },
        },
      },
    },
    ...Object.fromEntries((['states', 'stack-codes'] as const).flatMap((kind) => {
      const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,99}$' } };
      const info = { type: 'object', properties: { name: str, scope: { enum: ['state', 'stack_code'] }, updated_at: str, updated_by: str } };
      return [
        [`/api/${kind}/{id}/secrets`, { get: { tags: [kind], summary: 'Secret variables (names, who set them, when; never values)', parameters: [idParam], responses: { 200: { description: 'the list', ...json({ type: 'object', properties: { secrets: { type: 'array', items: info } } }) }, ...errorResponses(401, 404) } } }],
        [`/api/${kind}/{id}/secrets/{name}`, {
          put: { tags: [kind], summary: 'Set a secret variable (admin; write-only, sealed with the account\'s Vault Transit key; given to tofu as TF_VAR_<name> of the units declaring it)', parameters: [idParam, nameParam], requestBody: { required: true, ...json({ type: 'object', required: ['value'], additionalProperties: false, properties: { value: { type: 'string', minLength: 1, description: 'at most 32 KiB' } } }) }, responses: { 200: { description: 'replaced', ...json(info) }, 201: { description: 'created', ...json(info) }, ...errorResponses(400, 401, 404, 503) } },
          delete: { tags: [kind], summary: 'Delete a secret variable (admin)', parameters: [idParam, nameParam], responses: { 204: { description: 'deleted' }, ...errorResponses(401, 404) } },
        }],
      ];
    })),
    '/api/worker-pools/bindings': {
      get: { tags: ['admin'], summary: 'Worker pools bound to the account and its repositories', responses: { 200: { description: 'bindings', ...json({ type: 'object' }) }, ...errorResponses(401) } },
      put: { tags: ['admin'], summary: 'Replace the pools bound to a repository (or, with repository_id null, to the account)', requestBody: { required: true, ...json({ type: 'object', required: ['pools'], additionalProperties: false, properties: { repository_id: { type: ['string', 'null'] }, pools: { type: 'array', items: { type: 'string' } } } }) }, responses: { 200: { description: 'bindings', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404) } },
    },
    '/api/hooks/allowed-addresses': {
      get: { tags: ['admin'], summary: 'Address ranges webhook hooks may reach although loopback, link-local or private', responses: { 200: { description: 'ranges', ...json({ type: 'object', properties: { cidrs: { type: 'array', items: str } } }) }, ...errorResponses(401) } },
      put: { tags: ['admin'], summary: 'Replace the account\'s allowed hook address ranges', requestBody: { required: true, ...json({ type: 'object', required: ['cidrs'], additionalProperties: false, properties: { cidrs: { type: 'array', items: str } } }) }, responses: { 200: { description: 'ranges', ...json({ type: 'object' }) }, ...errorResponses(400, 401) } },
    },
    '/api/repositories/{id}/hook-env': { get: { tags: ['admin'], summary: 'STACKLY_HOOK_* names the repository\'s hooks may use', parameters: [idParam], responses: { 200: { description: 'names', ...json({ type: 'object' }) }, ...errorResponses(401, 404) } } },
    '/api/repositories/{id}/hook-env/{name}': {
      put: { tags: ['admin'], summary: 'Grant a STACKLY_HOOK_* name to the repository\'s hooks', parameters: [idParam, { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^STACKLY_HOOK_[A-Z0-9_]+$' } }], responses: { 204: { description: 'granted' }, ...errorResponses(400, 401, 404) } },
      delete: { tags: ['admin'], summary: 'Revoke a granted name', parameters: [idParam, { name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 204: { description: 'revoked' }, ...errorResponses(401, 404) } },
    },
    '/api/states/{id}/runs': { post: { tags: ['states'], summary: 'Trigger a run by hand (starts stackRunWorkflow at the stack code\'s current commit)', parameters: [idParam], responses: { 202: { description: 'started', ...json(ref('WorkflowStarted')) }, ...errorResponses(401, 404, 409, 503) } } },
    '/api/runs/{id}': { get: { tags: ['runs'], summary: 'A run\'s progress (phase, units, review plan summary, waiting reason) from the workflow query', parameters: [idParam], responses: { 200: { description: 'progress', ...json(ref('Run')) }, ...errorResponses(401, 404, 409, 503) } } },
    '/api/runs/{id}/logs': { get: { tags: ['runs'], summary: 'tofu\'s redacted output of the run, every unit and phase in order (text/plain with "[unit phase] " before each line, or ?format=json chunks); ?follow=1 or Accept: text/event-stream streams it (events chunk and end, id = chunk number, resumes from Last-Event-ID)', parameters: [idParam, ...['unit', 'phase', 'format', 'follow', 'after'].map((name) => ({ name, in: 'query', required: false, schema: str }))], responses: { 200: { description: 'the log', content: { 'text/plain': { schema: str }, 'application/json': { schema: { type: 'object' } }, 'text/event-stream': { schema: str } } }, ...errorResponses(400, 401, 404, 503) } } },
    '/api/runs/{id}/approve': { post: { tags: ['runs'], summary: 'Approve the review plan (scope "review") or a unit\'s difference (scope "unit:<name>")', parameters: [idParam], requestBody: { required: false, ...json({ type: 'object', properties: { scope: str, comment: str } }) }, responses: { 202: { description: 'signalled', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404, 409, 503) } } },
    '/api/runs/{id}/reject': { post: { tags: ['runs'], summary: 'Reject a run; the run ends without applying', parameters: [idParam], requestBody: { required: false, ...json({ type: 'object', properties: { scope: str, reason: str } }) }, responses: { 202: { description: 'signalled', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404, 409, 503) } } },
    '/api/runs/{id}/cancel': { post: { tags: ['runs'], summary: 'Cancel a run (running tofu is interrupted so its lock is released)', parameters: [idParam], responses: { 202: { description: 'cancelling', ...json({ type: 'object' }) }, ...errorResponses(401, 404, 409, 503) } } },
    '/auth/login': { get: { tags: ['sign-in'], summary: 'Start signing in: 302 to the identity provider (state, PKCE S256, nonce kept server-side for 10 minutes)', security: [], parameters: [filter('provider', 'oidc | github (default: the only one configured)'), filter('cli', 'SHA-256 (hex) of a command line\'s poll secret')], responses: { 302: { description: 'to the identity provider' }, ...errorResponses(400, 404, 409) } } },
    '/auth/callback': { get: { tags: ['sign-in'], summary: 'The identity provider\'s redirect back: the code exchanged, the user and groups updated, tokens answered (JSON, or a page for Accept: text/html)', security: [], responses: { 200: { description: 'signed in', ...json(ref('TokenPair')) }, ...errorResponses(400, 404) } } },
    '/auth/cli/confirm': { post: { tags: ['sign-in'], summary: 'The browser that finished a command line\'s sign-in confirms it with the code the command line shows (its cookie from the callback required; a wrong code cancels)', security: [], requestBody: { required: true, ...json({ type: 'object', required: ['state', 'code'], properties: { state: str, code: str } }) }, responses: { 200: { description: 'confirmed' }, ...errorResponses(400, 404) } } },
    '/auth/cli/poll': { post: { tags: ['sign-in'], summary: 'A command line collects its tokens (once) after the browser signed in', security: [], requestBody: { required: true, ...json({ type: 'object', required: ['poll_secret'], properties: { poll_secret: str } }) }, responses: { 200: { description: 'signed in', ...json(ref('TokenPair')) }, 202: { description: 'pending' }, 410: { description: 'expired or collected', ...json(ref('Error')) }, ...errorResponses(400, 404) } } },
    '/auth/token': { post: { tags: ['sign-in'], summary: 'A new token pair for a refresh token (used up; a reused one revokes the sign-in)', security: [], requestBody: { required: true, ...json({ type: 'object', required: ['refresh_token'], properties: { refresh_token: str } }) }, responses: { 200: { description: 'a new pair', ...json(ref('TokenPair')) }, ...errorResponses(400, 401, 404) } } },
    '/auth/logout': { post: { tags: ['sign-in'], summary: 'End the sign-in a refresh token belongs to', security: [], requestBody: { required: true, ...json({ type: 'object', required: ['refresh_token'], properties: { refresh_token: str } }) }, responses: { 204: { description: 'revoked' }, ...errorResponses(400, 401, 404) } } },
    '/api/repositories/{id}/webhook-secret': {
      put: { tags: ['repositories'], summary: 'Give a repository its own webhook secret, or rotate it (stored as Vault Transit ciphertext, never returned) (admin)', parameters: [idParam], requestBody: { required: true, ...json({ type: 'object', required: ['webhook_secret'], properties: { webhook_secret: { type: 'string', minLength: 16 } } }) }, responses: { 200: { description: 'set', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404, 503) } },
    },
    '/api/policies': { get: { tags: ['policies'], summary: 'The account\'s policies (applied to every stack their selector matches, in addition to its own)', responses: { 200: { description: 'policies', ...json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object' } } } }) }, ...errorResponses(401) } } },
    '/api/policies/{name}': {
      get: { tags: ['policies'], summary: 'One account policy', parameters: [{ ...idParam, name: 'name' }], responses: { 200: { description: 'the policy', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404) } },
      put: { tags: ['policies'], summary: 'Set an account policy: one policy block (policies/README.md) and a selector (environment, repository, path glob) (admin)', parameters: [{ ...idParam, name: 'name' }], requestBody: { required: true, ...json({ type: 'object', required: ['hcl'], properties: { hcl: { type: 'string' }, selector: { type: 'object', properties: { environment: { type: 'string' }, repository: { type: 'string' }, path: { type: 'string' } } } } }) }, responses: { 200: { description: 'replaced', ...json({ type: 'object' }) }, 201: { description: 'created', ...json({ type: 'object' }) }, ...errorResponses(400, 401) } },
      delete: { tags: ['policies'], summary: 'Remove an account policy (admin)', parameters: [{ ...idParam, name: 'name' }], responses: { 204: { description: 'removed' }, ...errorResponses(400, 401, 404) } },
    },
    '/api/members': { get: { tags: ['members'], summary: 'The account\'s members, roles (and whether an admin or a sign-in mapping set them) and groups (admin)', responses: { 200: { description: 'members', ...json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object' } } } }) }, ...errorResponses(401) } } },
    '/api/members/{userId}': {
      put: { tags: ['members'], summary: 'Set a user\'s role in the account (an admin\'s decision, kept by sign-in)', parameters: [{ ...idParam, name: 'userId' }], requestBody: { required: true, ...json({ type: 'object', required: ['role'], properties: { role: { enum: ['viewer', 'operator', 'approver', 'admin'] } } }) }, responses: { 200: { description: 'set', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404, 409) } },
      delete: { tags: ['members'], summary: 'Remove a member from the account', parameters: [{ ...idParam, name: 'userId' }], responses: { 204: { description: 'removed' }, ...errorResponses(400, 401, 404, 409) } },
    },
    '/api/members/{userId}/groups/{group}': {
      put: { tags: ['members'], summary: 'Map a member to a group in this account (for approval policies; URL-encode the / of org/team)', parameters: [{ ...idParam, name: 'userId' }, { ...idParam, name: 'group' }], responses: { 200: { description: 'mapped', ...json({ type: 'object' }) }, ...errorResponses(400, 401, 404) } },
      delete: { tags: ['members'], summary: 'Remove an admin\'s group mapping', parameters: [{ ...idParam, name: 'userId' }, { ...idParam, name: 'group' }], responses: { 204: { description: 'removed' }, ...errorResponses(400, 401, 404) } },
    },
    '/openapi.json': { get: { tags: ['meta'], summary: 'This description', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } },
  },
};

// Every REST operation, and the public description, may answer 429 past a rate limit
// (api/rate-limit.ts); the webhook receiver is never limited.
openapi.components.responses.E429 = {
  description: 'past a rate limit (per credential, per account, or per address without a credential); the message names it',
  headers: { 'Retry-After': { description: 'seconds until the window ends', schema: { type: 'integer', minimum: 1 } } },
  ...json(ref('Error')),
} as (typeof openapi.components.responses)[string];
for (const [path, operations] of Object.entries(openapi.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
  if (path === '/webhooks/github') continue;
  for (const op of Object.values(operations)) op.responses['429'] = { $ref: '#/components/responses/E429' };
}
