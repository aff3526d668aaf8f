/**
 * `POST /api/states/:id/unlock` — break the state lock of one unit of a state, as an admin's
 * `tofu force-unlock` would, but never under a process that still runs:
 *
 * - body `{ "unit": "<unit>", "reason": "<why>" }`, both required (400 naming the field);
 * - the lock is broken when its Stackly claim names a worker process that is not alive (no fresh
 *   heartbeat, stopped, or its worker id now registered by another incarnation: a restarted worker),
 *   or when it has no Stackly claim (a human's or another tool's tofu run: make sure it is over);
 * - a lock held by a live Stackly worker process is never broken: 409 `lock_held` naming the holder
 *   (worker, run, unit, phase); cancel the run instead;
 * - no lock: 404 `not_locked`; no S3 settings in the api: 503 `s3_not_configured`;
 * - every unlock is recorded as a `state_unlocked` event: who, the reason, the lock and its holder.
 *
 * Authorization: there are no roles yet, so every API token may call this (another issue adds roles;
 * this route is then for admins only).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { breakStateLock, readStateLock, type StateLock } from '../../activities/terraform/store';
import { stateKey, StateKeyError } from '../../common/state-keys';
import { recordEvent } from '../../db/repos/events';
import { getState } from '../../db/repos/stack-states';
import { lockHolderAlive } from '../../db/repos/workers';
import { LIVE_SECONDS } from '../../workers/registration';
import type { RouteContext } from '../context';
import { ApiError, badRequest, notFound } from '../errors';
import { parseBody } from '../validation';

const requiredString = { error: (i: { input: unknown }) => (i.input === undefined ? 'is required' : 'must be a string') };
const UnlockBody = z.strictObject({
  unit: z.string(requiredString).regex(/^[A-Za-z0-9_.-]+$/, 'must be a unit name ([A-Za-z0-9_.-]+)').refine((u) => u !== '.' && u !== '..', 'must be a unit name'),
  reason: z.string(requiredString).trim().min(1, 'is required: say why the lock is broken').max(2000),
});

/** The lock as the API shows it (tofu's LockInfo and the Stackly holder, when there is one). */
function lockView(lock: StateLock) {
  return {
    id: lock.id, operation: lock.operation, who: lock.who, created: lock.created, version: lock.version,
    holder: lock.holder
      ? { worker_id: lock.holder.workerId, incarnation: lock.holder.incarnation ?? null, run_id: lock.holder.runId, unit: lock.holder.unit, phase: lock.holder.phase, claimed_at: lock.holder.claimedAt }
      : null,
  };
}

export async function stateLockRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { db } = ctx;
  const liveSeconds = ctx.liveWorkerSeconds ?? LIVE_SECONDS;

  app.post('/api/states/:id/unlock', async (req) => {
    const { id } = req.params as { id: string };
    const body = parseBody(UnlockBody, req.body);
    if (!ctx.s3) {
      throw new ApiError(503, 's3_not_configured', 'the api has no S3 settings (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_ENDPOINT, S3_BUCKET): it cannot read or break state locks');
    }
    const { client, bucket } = ctx.s3;
    const state = await getState(db, req.principal.accountId, id);
    if (!state) throw notFound('state');
    let key: string;
    try {
      key = stateKey(state.tf_state_key, body.unit);
    } catch (e) {
      if (e instanceof StateKeyError) throw badRequest(`unit: ${e.message}`, 'invalid_request');
      throw e;
    }
    const lock = await readStateLock(client, bucket, key).catch((e: Error) => {
      req.log.error({ key, err: e.message }, 'reading a state lock failed');
      throw new ApiError(503, 's3_unavailable', `cannot read the lock of unit ${body.unit}: the bucket did not answer`);
    });
    if (!lock) throw new ApiError(404, 'not_locked', `unit ${body.unit} of state ${state.name} (${state.id}) is not locked (no lock object at ${key}.tflock)`);
    const h = lock.holder;
    if (h && await lockHolderAlive(db, h, liveSeconds)) {
      throw new ApiError(409, 'lock_held',
        `unit ${body.unit} is locked by worker ${h.workerId}${h.incarnation ? ` (incarnation ${h.incarnation})` : ''}, run ${h.runId}, ${h.phase} of unit ${h.unit}, which is alive: not breaking it (cancel the run instead)`);
    }
    const why = h ? 'holder_not_alive' : 'unclaimed';
    const broken = await breakStateLock(client, bucket, key, lock.id);
    if (!broken) throw new ApiError(409, 'lock_changed', `the lock of unit ${body.unit} changed while it was being broken (lock ${lock.id} is gone); look again`);
    const view = lockView(lock);
    await recordEvent(db, {
      accountId: req.principal.accountId, stackCodeId: state.stack_code_id, stackStateId: state.id, type: 'state_unlocked',
      payload: { by: req.user, reason: body.reason, unit: body.unit, key, lock_id: lock.id, why, lock: view, holder: view.holder },
    });
    req.log.warn({ stateId: state.id, unit: body.unit, lockId: lock.id, holder: h, by: req.user, why }, 'state lock broken by hand');
    return { unlocked: true, state_id: state.id, unit: body.unit, key, why, lock: view };
  });
}
