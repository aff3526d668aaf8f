/**
 * Keyset pagination (db/repos/pagination.ts keysetPage) on the real Postgres: every list function
 * pages through all its rows once, newest first, also across rows sharing one timestamp.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureAccount } from '../../db/repos/accounts';
import { listEvents, recordEvent } from '../../db/repos/events';
import { listOperations } from '../../db/repos/operations';
import { InvalidCursorError, type Page, type PageRequest } from '../../db/repos/pagination';
import { insertRepository, listRepositories } from '../../db/repos/repositories';
import { insertStackCode, listStackCodes } from '../../db/repos/stack-codes';
import { insertState, listStates } from '../../db/repos/stack-states';
import type { StackCode } from '../../db/tables/stack-codes';
import type { StackState } from '../../db/tables/stack-states';
import { createTestDb, type TestDb } from '../harness/db';

/** Every item of every page, following next_cursor with `limit` rows a page. */
async function all<T>(limit: number, list: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const page: Page<T> = await list({ limit, cursor });
    assert.ok(page.items.length <= limit);
    out.push(...page.items);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
  throw new Error('more than 100 pages');
}

/** Newest first by (time, id), as the list functions promise. */
const byTimeThenId = <T extends { id: string }>(time: (r: T) => Date) => (a: T, b: T) =>
  time(b).getTime() - time(a).getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

describe('db: keyset pagination of the list functions (real Postgres)', function () {
  let t: TestDb;
  let accountId: string;
  let otherAccountId: string;
  const tie = new Date('2026-01-02T03:04:05.678Z');

  before(async () => {
    t = await createTestDb('pagination');
    accountId = (await ensureAccount(t.db, 'acme', 'stackly')).id;
    otherAccountId = (await ensureAccount(t.db, 'other', 'stackly')).id;
  });
  after(async () => { await t?.drop(); });

  it('repositories: all rows once, newest first, ties on created_at broken by id, other accounts left out', async () => {
    for (let i = 0; i < 7; i++) {
      const r = await insertRepository(t.db, { accountId, url: `https://git.example/r${i}.git`, trackedBranch: 'main', webhookSecretEnc: null, credentialsEnc: null });
      // Four rows share one timestamp: only the id orders them.
      if (i < 4) await t.db.updateTable('repositories').set({ created_at: tie }).where('id', '=', r.id).execute();
    }
    await insertRepository(t.db, { accountId: otherAccountId, url: 'https://git.example/other.git', trackedBranch: 'main', webhookSecretEnc: null, credentialsEnc: null });
    for (const limit of [1, 2, 3, 7, 50]) {
      const rows = await all(limit, (p) => listRepositories(t.db, accountId, p));
      assert.equal(rows.length, 7, `limit ${limit}`);
      assert.equal(new Set(rows.map((r) => r.id)).size, 7);
      assert.deepEqual(rows.map((r) => r.id), [...rows].sort(byTimeThenId((r) => r.created_at)).map((r) => r.id));
    }
  });

  it('stack codes, states and operations (ordered by started_at, joined through the state)', async () => {
    const codes: StackCode[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push(await insertStackCode(t.db, {
        accountId, repositoryId: null, repoUrl: 'https://git.example/r0.git', repoPath: `stacks/s${i}`, name: `s${i}`,
        commit: 'a'.repeat(40), config: {}, status: 'active', error: null,
      }));
    }
    await t.db.updateTable('stack_codes').set({ created_at: tie }).execute();
    const states: StackState[] = [];
    for (const [i, code] of codes.entries()) {
      for (const name of ['prod', 'staging']) {
        const id = randomUUID();
        states.push(await insertState(t.db, { id, accountId, stackCodeId: code.id, name, commit: 'a'.repeat(40), tfStateKey: `acme/${id}/`, variables: {} }));
      }
      await t.db.updateTable('stack_states').set({ created_at: tie }).where('stack_code_id', '=', code.id).where('name', '=', 'prod').execute();
      if (i === 0) {
        for (let n = 0; n < 5; n++) {
          await t.db.insertInto('operations').values({
            stack_state_id: states[0]!.id, type: 'apply', status: 'succeeded', started_at: n < 3 ? tie : new Date(tie.getTime() + n * 1000),
          }).execute();
        }
      }
    }
    const c = await all(2, (p) => listStackCodes(t.db, accountId, {}, p));
    assert.deepEqual(new Set(c.map((r) => r.id)), new Set(codes.map((r) => r.id)));
    assert.deepEqual(c.map((r) => r.id), [...c].sort(byTimeThenId((r) => r.created_at)).map((r) => r.id));
    const s = await all(4, (p) => listStates(t.db, accountId, {}, p));
    assert.equal(s.length, 6);
    assert.deepEqual(s.map((r) => r.id), [...s].sort(byTimeThenId((r) => r.created_at)).map((r) => r.id));
    assert.equal((await all(1, (p) => listStates(t.db, accountId, { stackCodeId: codes[1]!.id }, p))).length, 2);
    const o = await all(2, (p) => listOperations(t.db, accountId, {}, p));
    assert.equal(o.length, 5);
    assert.equal(new Set(o.map((r) => r.id)).size, 5);
    assert.deepEqual(o.map((r) => r.id), [...o].sort(byTimeThenId((r) => r.started_at)).map((r) => r.id));
    assert.equal((await all(2, (p) => listOperations(t.db, otherAccountId, {}, p))).length, 0);
  });

  it('events: ordered by their sequence id alone', async () => {
    for (let i = 0; i < 5; i++) await recordEvent(t.db, { accountId, type: 'module_registered', payload: { i } });
    const e = await all(2, (p) => listEvents(t.db, accountId, {}, p));
    assert.deepEqual(e.map((r) => (r.payload as { i: number }).i), [4, 3, 2, 1, 0]);
  });

  it('refuses a cursor it did not make', async () => {
    await assert.rejects(listRepositories(t.db, accountId, { limit: 2, cursor: 'nonsense' }), InvalidCursorError);
    const forged = Buffer.from(JSON.stringify({ t: 'not a time', id: 'x' })).toString('base64url');
    await assert.rejects(listStates(t.db, accountId, {}, { limit: 2, cursor: forged }), InvalidCursorError);
  });
});
