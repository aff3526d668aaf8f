/**
 * Live run logs against real Postgres (Temporal unreachable: the run's end comes from its operation):
 * run_log_chunks numbering under concurrent writers, and GET /api/runs/:id/logs as text, JSON and
 * an event stream over real HTTP: live chunks, heartbeats, the end, resumption from Last-Event-ID
 * without duplicates or gaps, a client that goes away, and another account that tries to read.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { openLiveLog, type LiveLogDeps } from '../../activities/terraform/log-stream';
import type { BlobCipher } from '../../activities/terraform/store';
import { createLogger } from '../../common/logger';
import { SseParser, type RunLogChunk } from '../../common/run-logs';
import { stateKeyPrefix } from '../../common/state-keys';
import { namespaceClients } from '../../common/temporal';
import { ensureAccount } from '../../db/repos/accounts';
import { appendRunLogChunks, listRunLogChunks } from '../../db/repos/run-log-chunks';
import { createTestDb, type TestDb } from '../harness/db';
import { createPrincipal, type TestPrincipal } from '../harness/principals';

/** AES-256-GCM under a key per namespace: what blobCipherFromKeyring does, without Vault. */
function testCipher(): (ns: string) => BlobCipher {
  const keys = new Map<string, Buffer>();
  return (ns) => {
    const key = keys.get(ns) ?? randomBytes(32);
    keys.set(ns, key);
    return {
      async encrypt(plain) {
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', key, iv);
        const body = Buffer.concat([c.update(plain), c.final()]);
        return Buffer.concat([iv, c.getAuthTag(), body]);
      },
      async decrypt(sealed) {
        const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
        d.setAuthTag(sealed.subarray(12, 28));
        return Buffer.concat([d.update(sealed.subarray(28)), d.final()]);
      },
    };
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('run logs: chunks and GET /api/runs/:id/logs (real Postgres)', function () {
  this.timeout(60_000);
  let tdb: TestDb;
  let app: FastifyInstance;
  let base: string;
  let connection: Connection;
  let viewer: TestPrincipal;
  let stranger: TestPrincipal;
  let stateId: string;
  const cipherOf = testCipher();
  const NS = 'stackly-logs';

  before(async () => {
    tdb = await createTestDb('run_logs');
    const acme = await ensureAccount(tdb.db, 'acme', NS);
    const beta = await ensureAccount(tdb.db, 'beta', 'stackly-logs-beta');
    viewer = await createPrincipal(tdb.db, { accountId: acme.id, login: 'viewer', role: 'viewer' });
    stranger = await createPrincipal(tdb.db, { accountId: beta.id, login: 'beta-admin', role: 'admin' });
    stateId = randomUUID();
    const code = await tdb.db.insertInto('stack_codes').values({
      account_id: acme.id, repo_url: 'file:///r.git', repo_path: 'stacks/net', name: 'net', current_commit: 'a'.repeat(40), config: '{}', status: 'active',
    }).returning('id').executeTakeFirstOrThrow();
    await tdb.db.insertInto('stack_states').values({
      id: stateId, account_id: acme.id, stack_code_id: code.id, name: 'prod', commit_hash: 'a'.repeat(40),
      tf_state_key: stateKeyPrefix('acme', stateId), variables: '{}', metadata: '{}', status: 'active',
    }).execute();
    connection = Connection.lazy({ address: '127.0.0.1:1' });
    app = await buildApi({
      db: tdb.db, logger: createLogger('test', 'silent'), temporal: namespaceClients(connection), platformAccountId: acme.id,
      webhookSecret: 'unused-webhook-secret-0123', secretBox: { encrypt: async (t: string) => t, decrypt: async (t: string) => t },
      bodyLimitBytes: 1 << 20, temporalTimeoutMs: 200, logCipher: cipherOf,
      runLogs: { pollMs: 50, heartbeatMs: 300, endCheckMs: 200 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await tdb?.drop();
  });

  async function newRun(status: 'running' | 'succeeded' = 'running'): Promise<{ runId: string; setStatus(s: 'succeeded' | 'failed'): Promise<void> }> {
    const runId = `stack-run-test-${randomUUID()}`;
    await tdb.db.insertInto('operations').values({
      stack_state_id: stateId, type: 'apply', status, triggered_by: 't', workflow_id: runId, from_commit: 'a', to_commit: 'b', metadata: '{}',
    }).execute();
    return {
      runId,
      async setStatus(s) { await tdb.db.updateTable('operations').set({ status: s, completed_at: new Date() }).where('workflow_id', '=', runId).execute(); },
    };
  }

  const liveDeps = (ns = NS): LiveLogDeps => ({ db: tdb.db, namespace: ns, cipher: cipherOf(ns), flushMs: 20 });

  /** Reads an event stream until `end` (or `stopAfter` chunks), with the Last-Event-ID given. */
  async function readStream(runId: string, o: { lastEventId?: string; stopAfter?: number; query?: string; auth?: Record<string, string>; onChunk?(c: RunLogChunk & { id: string }): void } = {}) {
    const ctl = new AbortController();
    const res = await fetch(`${base}/api/runs/${runId}/logs?follow=1${o.query ?? ''}`, {
      headers: { ...(o.auth ?? viewer.auth), ...(o.lastEventId ? { 'last-event-id': o.lastEventId } : {}) }, signal: ctl.signal,
    });
    if (res.status !== 200) assert.fail(`HTTP ${res.status}: ${await res.text()}`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const p = new SseParser();
    const chunks: Array<RunLogChunk & { id: string }> = [];
    let end: { status: string } | undefined;
    let raw = '';
    const dec = new TextDecoder();
    try {
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        const s = dec.decode(piece, { stream: true });
        raw += s;
        for (const m of p.push(s)) {
          if (m.event === 'chunk') {
            const c = { ...(JSON.parse(m.data) as RunLogChunk), id: m.id! };
            chunks.push(c);
            o.onChunk?.(c);
          }
          if (m.event === 'end') end = JSON.parse(m.data) as { status: string };
        }
        if (end || (o.stopAfter !== undefined && chunks.length >= o.stopAfter)) break;
      }
    } finally {
      ctl.abort();
    }
    return { chunks, end, raw, lastEventId: p.lastEventId };
  }

  it('numbers a run\'s chunks 1..N in commit order under concurrent writers; a reader by cursor never sees a gap', async () => {
    const runId = `r-${randomUUID()}`;
    const seen: number[] = [];
    let writing = true;
    const reader = (async () => {
      let cursor = 0;
      while (writing || cursor < 200) {
        const rows = await listRunLogChunks(tdb.db, NS, runId, { afterSeq: cursor, limit: 1000 });
        for (const r of rows) {
          assert.equal(Number(r.seq), cursor + 1, 'the next chunk a reader sees is always the one after its cursor');
          cursor = Number(r.seq);
          seen.push(cursor);
        }
        await wait(2);
      }
    })();
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 25; i++) {
        await appendRunLogChunks(tdb.db, NS, runId, [{ execution: 'e', unit: `u${w}`, phase: 'plan', attempt: 1, at: new Date(), bytes: 1, textEnc: Buffer.from(`${w}:${i}`) }]);
      }
    }));
    writing = false;
    await reader;
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i + 1));
    // Each writer's chunks are in its own order.
    const rows = await listRunLogChunks(tdb.db, NS, runId, { limit: 1000 });
    for (let w = 0; w < 8; w++) assert.deepEqual(rows.filter((r) => r.unit === `u${w}`).map((r) => r.text_enc.toString()), Array.from({ length: 25 }, (_, i) => `${w}:${i}`));
  });

  it('streams chunks of three units as they are written, with heartbeats, and ends when the run ends; resuming from Last-Event-ID repeats and loses nothing', async () => {
    const run = await newRun();
    const units = ['net', 'db', 'app'];
    const logs = units.map((u) => openLiveLog(liveDeps(), { runId: run.runId, execution: 'exec-1', unit: u, attempt: 1 }));
    const arrivals: Array<{ text: string; at: number }> = [];
    let writtenAll = 0;
    const writer = (async () => {
      for (let i = 0; i < 20; i++) {
        logs.forEach((l, k) => l.write(i < 10 ? 'plan' : 'apply', `${units[k]} line ${i}\n`));
        await wait(100);
      }
      for (const l of logs) await l.close();
      writtenAll = Date.now();
      await wait(700); // heartbeats meanwhile
      await run.setStatus('succeeded');
    })();
    const full = await readStream(run.runId, { onChunk: (c) => arrivals.push({ text: c.text, at: Date.now() }) });
    await writer;
    assert.deepEqual(full.end, { status: 'succeeded' });
    assert.match(full.raw, /^retry: \d+/);
    assert.match(full.raw, /\n: keep-alive\n/, 'heartbeat comments while quiet');
    // Live: the first lines arrived long before the last were written.
    assert.ok(arrivals[0]!.at < writtenAll - 1000, `chunks arrive while the run works (first ${writtenAll - arrivals[0]!.at} ms before the last was written)`);
    const text = (cs: RunLogChunk[], u: string) => cs.filter((c) => c.unit === u).map((c) => c.text).join('');
    for (const u of units) assert.equal(text(full.chunks, u), Array.from({ length: 20 }, (_, i) => `${u} line ${i}\n`).join(''));
    const ids = full.chunks.map((c) => Number(c.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(new Set(ids).size, ids.length);

    // Resume from every point: exactly the rest.
    for (const k of [0, 1, Math.floor(ids.length / 2), ids.length - 1]) {
      const resumed = await readStream(run.runId, { lastEventId: String(ids[k]) });
      assert.deepEqual(resumed.chunks.map((c) => Number(c.id)), ids.slice(k + 1), `resumed after ${ids[k]}`);
      assert.deepEqual(resumed.end, { status: 'succeeded' });
    }
    // Filters: one unit, one phase.
    const one = await readStream(run.runId, { query: '&unit=db&phase=apply' });
    assert.equal(one.chunks.map((c) => c.text).join(''), Array.from({ length: 10 }, (_, i) => `db line ${i + 10}\n`).join(''));
  });

  it('a client that reconnects mid-run with Last-Event-ID gets every chunk once', async () => {
    const run = await newRun();
    const log = openLiveLog(liveDeps(), { runId: run.runId, execution: 'exec-1', unit: 'net', attempt: 1 });
    const writer = (async () => {
      for (let i = 0; i < 30; i++) { log.write('apply', `n${i}\n`); await wait(25); }
      await log.close();
      await run.setStatus('failed');
    })();
    const got: string[] = [];
    let last: string | undefined;
    let end: { status: string } | undefined;
    for (let round = 0; !end && round < 50; round++) {
      const r = await readStream(run.runId, { stopAfter: 3, ...(last ? { lastEventId: last } : {}) });
      got.push(...r.chunks.map((c) => c.text));
      last = r.chunks.length ? r.chunks[r.chunks.length - 1]!.id : last;
      end = r.end;
    }
    await writer;
    assert.deepEqual(end, { status: 'failed' });
    assert.equal(got.join(''), Array.from({ length: 30 }, (_, i) => `n${i}\n`).join(''));
  });

  it('gives the whole log as text and JSON after the run; stores it sealed, never as plaintext', async () => {
    const run = await newRun('succeeded');
    const secretish = 'Error: something long went wrong\n' + Array.from({ length: 100 }, (_, i) => `detail ${i}`).join('\n') + '\n';
    const log = openLiveLog(liveDeps(), { runId: run.runId, execution: 'exec-1', unit: 'bad', attempt: 1 });
    log.write('plan', secretish);
    await log.close();
    const t = await fetch(`${base}/api/runs/${run.runId}/logs`, { headers: viewer.auth });
    assert.equal(t.status, 200);
    assert.match(t.headers.get('content-type') ?? '', /^text\/plain/);
    const body = await t.text();
    assert.ok(body.includes('[bad plan] Error: something long went wrong\n') && body.includes('[bad plan] detail 99\n'), body.slice(0, 200));
    const j = await (await fetch(`${base}/api/runs/${run.runId}/logs?format=json&unit=bad`, { headers: viewer.auth })).json() as { chunks: RunLogChunk[] };
    assert.equal(j.chunks.map((c) => c.text).join(''), secretish);
    const rows = await listRunLogChunks(tdb.db, NS, run.runId);
    for (const r of rows) assert.ok(!r.text_enc.toString('latin1').includes('something long'), 'sealed at rest');
  });

  it('refuses bad input by name, and another account (or another namespace\'s chunks) reads nothing', async () => {
    const run = await newRun('succeeded');
    const mine = openLiveLog(liveDeps(), { runId: run.runId, execution: 'e', unit: 'net', attempt: 1 });
    mine.write('plan', 'mine\n');
    await mine.close();
    // A worker of another namespace writing under this run's id: not this account's log.
    const forged = openLiveLog(liveDeps('stackly-logs-beta'), { runId: run.runId, execution: 'e', unit: 'net', attempt: 1 });
    forged.write('plan', 'forged\n');
    await forged.close();
    const text = await (await fetch(`${base}/api/runs/${run.runId}/logs`, { headers: viewer.auth })).text();
    assert.equal(text, '[net plan] mine\n');
    const other = await fetch(`${base}/api/runs/${run.runId}/logs`, { headers: stranger.auth });
    assert.equal(other.status, 404);
    const otherStream = await fetch(`${base}/api/runs/${run.runId}/logs?follow=1`, { headers: stranger.auth });
    assert.equal(otherStream.status, 404);
    assert.equal((await fetch(`${base}/api/runs/${run.runId}/logs`)).status, 401);
    const badId = await fetch(`${base}/api/runs/${run.runId}/logs?follow=1`, { headers: { ...viewer.auth, 'last-event-id': 'x; drop' } });
    assert.equal(badId.status, 400);
    assert.match(await badId.text(), /Last-Event-ID/);
    const badUnit = await fetch(`${base}/api/runs/${run.runId}/logs?unit=${encodeURIComponent('../x')}`, { headers: viewer.auth });
    assert.equal(badUnit.status, 400);
    assert.match(await badUnit.text(), /unit/);
  });

  it('stackly run logs -f (the CLI process) prints [unit phase] lines live, resumes after a dropped connection without duplicates or gaps, and exits 0 at the end', async () => {
    const run = await newRun();
    const cliProc = spawn(process.execPath, ['--require', 'tsx/cjs', 'cli/index.ts', 'run', 'logs', run.runId, '-f'], {
      cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STACKLY_API_URL: base, STACKLY_API_TOKEN: viewer.key },
    });
    let out = '';
    let err = '';
    cliProc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    cliProc.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    const exited = new Promise<number | null>((r) => cliProc.once('exit', (code) => r(code)));
    const logs = ['net', 'db', 'app'].map((u) => openLiveLog(liveDeps(), { runId: run.runId, execution: 'e', unit: u, attempt: 1 }));
    const until = async (pred: () => boolean, what: string) => {
      for (const deadline = Date.now() + 30_000; !pred();) {
        if (Date.now() > deadline) throw new Error(`${what}; stdout:\n${out}\nstderr:\n${err}`);
        await wait(50);
      }
    };
    try {
      for (let i = 0; i < 40; i++) {
        logs.forEach((l, k) => l.write(i < 20 ? 'plan' : 'apply', `${['net', 'db', 'app'][k]} ${i}${i % 7 === 0 ? ' (sensitive)' : ''}\n`));
        if (i === 5) await until(() => out.includes('[net plan] net 5\n'), 'lines arrive while the run works');
        // The api drops every connection: the CLI opens the stream again with Last-Event-ID.
        if (i === 20) { await until(() => out.includes('[app apply] app 20\n'), 'apply lines'); app.server.closeAllConnections(); }
        await wait(20);
      }
      for (const l of logs) await l.close();
      await run.setStatus('succeeded');
      assert.equal(await exited, 0, err);
    } finally {
      if (cliProc.exitCode === null) cliProc.kill('SIGKILL');
    }
    const lines = out.split('\n').filter(Boolean);
    for (const u of ['net', 'db', 'app']) {
      const mine = lines.filter((l) => l.startsWith(`[${u} `));
      assert.deepEqual(mine, Array.from({ length: 40 }, (_, i) => `[${u} ${i < 20 ? 'plan' : 'apply'}] ${u} ${i}${i % 7 === 0 ? ' (sensitive)' : ''}`), `${u}: every line once, in order`);
    }
    assert.match(err, /reconnecting/);
    assert.match(err, /ended \(succeeded\)/);
  });

  it('survives clients that go away mid-stream', async () => {
    const run = await newRun();
    const log = openLiveLog(liveDeps(), { runId: run.runId, execution: 'e', unit: 'net', attempt: 1 });
    log.write('plan', 'x\n');
    await log.close();
    for (let i = 0; i < 5; i++) {
      const r = await readStream(run.runId, { stopAfter: 1 });
      assert.equal(r.chunks.length, 1);
    }
    await wait(300);
    await run.setStatus('succeeded');
    const r = await readStream(run.runId);
    assert.deepEqual(r.end, { status: 'succeeded' });
  });
});
