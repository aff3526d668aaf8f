/** Live run logs, the pure parts: redaction of a stream, chunk batching and order, SSE framing, line prefixes. */
import assert from 'node:assert/strict';
import { ChunkBatcher, redactionSafeCut, splitText, type LogChunk } from '../../activities/terraform/log-stream';
import { createRedactor, REDACTED } from '../../activities/terraform/redact';
import { RunLog } from '../../activities/terraform/tofu';
import { LinePrefixer, prefixedLines, sseComment, sseEvent, SseParser, lastLines } from '../../common/run-logs';

/** A deterministic pseudo-random generator (tests must not flake). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** Cuts a text into pieces of random sizes 1..max. */
function pieces(text: string, r: () => number, max = 7): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(r() * max);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('live logs: a redacted stream (RunLog)', () => {
  const secret = 'hunter2-very-secret-value';
  const multi = 'line one of a key\nline two of a key';
  const redact = createRedactor([secret, { pem: multi }]);
  const text = [
    'null_resource.a: Creating...\n',
    `null_resource.a (local-exec): token=${secret} and again ${secret}\n`,
    `quoted: "${JSON.stringify(multi).slice(1, -1)}"\n`,
    `raw:\n${multi}\nend\n`,
    `tail without newline ${secret}`,
  ].join('');

  it('never lets a secret out, however tofu\'s output is split, and says the same as redacting it whole', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const streamed: string[] = [];
      const log = new RunLog(redact, (_phase, t) => streamed.push(t));
      log.section('plan');
      for (const p of pieces(text, rng(seed))) {
        log.append(p);
        // At every moment, what went out holds no secret (nor any piece of the multi-line one's lines joined).
        const sofar = streamed.join('');
        assert.ok(!sofar.includes(secret), `seed ${seed}: the secret went out`);
        assert.ok(!sofar.includes(multi), `seed ${seed}: the multi-line secret went out`);
      }
      log.flush();
      const all = streamed.join('');
      assert.equal(all.replace(/^\n=== plan \([^)]*\)\n/, ''), redact(text), `seed ${seed}`);
      assert.equal(log.text(), all);
    }
  });

  it('lets complete lines out at once when no secret spans lines, and holds back only what might start one', () => {
    const r = createRedactor(['abcdefghij']);
    const out: string[] = [];
    const log = new RunLog(r, (_p, t) => out.push(t));
    log.append('MARKER done\nabc');
    assert.equal(out.join(''), 'MARKER done\n');
    log.append('defghij!\n');
    assert.equal(out.join(''), `MARKER done\n${REDACTED}!\n`);
    // Without secrets everything goes out at once.
    const plain: string[] = [];
    const p = new RunLog(createRedactor([]), (_p2, t) => plain.push(t));
    p.append('partial line');
    assert.deepEqual(plain, ['partial line']);
  });

  it('names the phase by the section title\'s first word', () => {
    const phases: string[] = [];
    const log = new RunLog(createRedactor([]), (ph) => phases.push(ph));
    log.section('init');
    log.append('x\n');
    log.section('apply (after breaking a dead worker\'s lock)');
    log.append('y\n');
    assert.deepEqual(phases, ['init', 'init', 'apply', 'apply']);
  });

  it('cuts before a secret that straddles the cut', () => {
    assert.equal(redactionSafeCut('xx secret yy', ['secret']), 3);
    assert.equal(redactionSafeCut('xx secret yyyyy', ['secret']), 'xx secret yyyyy'.length - 5);
    assert.equal(redactionSafeCut('ab\nsecr', ['secret']), 3);
    assert.equal(redactionSafeCut('abc', []), 3);
    // A multi-line secret: no line rule, only the hold-back.
    assert.equal(redactionSafeCut('aaaa\nbb', ['b\nc']), 5);
  });
});

describe('live logs: chunk batching', () => {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('merges a phase\'s text into chunks, keeps the order, and writes a batch after flushMs', async () => {
    const batches: LogChunk[][] = [];
    const b = new ChunkBatcher({ flushMs: 30, write: async (c) => { batches.push(c.map((x) => ({ ...x }))); } });
    b.add('net', 'init', 1, 'a');
    b.add('net', 'init', 1, 'b');
    b.add('net', 'plan', 1, 'c');
    b.add('net', 'plan', 1, 'd');
    b.add('net', 'init', 2, 'e');
    assert.equal(batches.length, 0, 'nothing before flushMs');
    await wait(80);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]!.map((c) => [c.phase, c.attempt, c.text]), [['init', 1, 'ab'], ['plan', 1, 'cd'], ['init', 2, 'e']]);
    await b.close();
  });

  it('writes at once past maxBatchBytes, splits big text into chunks of at most maxChunkBytes, never inside a character', async () => {
    const batches: LogChunk[][] = [];
    const b = new ChunkBatcher({ flushMs: 10_000, maxBatchBytes: 100, maxChunkBytes: 40, write: async (c) => { batches.push(c); } });
    b.add('u', 'plan', 1, 'x'.repeat(120));
    await b.flush();
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]!.map((c) => c.text.length), [40, 40, 40]);
    assert.deepEqual(splitText('ééé', 4), ['éé', 'é']);
    assert.equal(splitText('😀😀', 5).join(''), '😀😀');
    await b.close();
  });

  it('keeps every chunk in order across failed writes, and writes them with the next batch', async () => {
    const stored: string[] = [];
    let fail = 2;
    const errors: string[] = [];
    const b = new ChunkBatcher({
      flushMs: 5,
      write: async (c) => {
        if (fail-- > 0) throw new Error('postgres down');
        stored.push(...c.map((x) => x.text));
      },
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 50; i++) {
      b.add(i % 2 ? 'a' : 'b', 'plan', 1, `${i},`);
      if (i % 10 === 0) await wait(8);
    }
    await wait(1200);
    await b.close();
    assert.equal(stored.join(''), Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
    assert.ok(errors.length >= 2);
  });

  it('serialises writes: a slow write is never overtaken by the next batch', async () => {
    const order: string[] = [];
    let first = true;
    const b = new ChunkBatcher({
      flushMs: 1,
      write: async (c) => {
        if (first) { first = false; await wait(50); }
        order.push(c.map((x) => x.text).join(''));
      },
    });
    b.add('u', 'apply', 1, 'one');
    await wait(5);
    b.add('u', 'apply', 1, 'two');
    await b.close();
    assert.deepEqual(order, ['one', 'two']);
  });

  it('drops the oldest text past maxBufferedBytes while writes fail, and says so', async () => {
    const stored: string[] = [];
    let down = true;
    const b = new ChunkBatcher({ flushMs: 1, maxBufferedBytes: 10, maxChunkBytes: 5, write: async (c) => { if (down) throw new Error('down'); stored.push(...c.map((x) => x.text)); } });
    b.add('u', 'plan', 1, 'aaaaa');
    await b.flush();
    b.add('u', 'plan', 1, 'bbbbbccccc');
    await b.flush();
    down = false;
    await b.close();
    const all = stored.join('');
    assert.match(all, /5 bytes of live log were dropped/);
    assert.ok(all.endsWith('bbbbbccccc'));
    assert.ok(!all.includes('aaaaa'));
  });
});

describe('live logs: server-sent events', () => {
  it('frames an event with id, event and JSON data, and parses it back from any split', () => {
    const events = [
      sseEvent('chunk', { unit: 'net', phase: 'plan', text: 'line 1\nline 2\r\n"quoted"' }, 7),
      sseComment('keep-alive'),
      sseEvent('chunk', { unit: 'app', phase: 'apply', text: 'é 😀' }, 8),
      sseEvent('end', { status: 'succeeded' }),
    ].join('');
    assert.match(events, /^id: 7\nevent: chunk\ndata: \{/);
    for (let seed = 1; seed <= 50; seed++) {
      const p = new SseParser();
      const got = pieces(events, rng(seed), 11).flatMap((x) => p.push(x));
      assert.deepEqual(got.map((m) => [m.id, m.event]), [['7', 'chunk'], ['8', 'chunk'], [undefined, 'end']]);
      assert.equal((JSON.parse(got[0]!.data) as { text: string }).text, 'line 1\nline 2\r\n"quoted"');
      assert.equal((JSON.parse(got[1]!.data) as { text: string }).text, 'é 😀');
      assert.equal(p.lastEventId, '8');
    }
  });

  it('reads CRLF and CR line ends, multi-line data, and ignores comments', () => {
    const p = new SseParser();
    const got = p.push(': hi\r\nid: 3\r\nevent: chunk\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\r\n');
    assert.deepEqual(got, [{ id: '3', event: 'chunk', data: 'a\nb' }, { event: 'message', data: 'c' }]);
  });
});

describe('live logs: [unit phase] lines', () => {
  it('prefixes whole lines of interleaved units, joining a line split over chunks', () => {
    const p = new LinePrefixer();
    let out = '';
    out += p.push({ unit: 'net', phase: 'plan', text: 'net 1\nnet ' });
    out += p.push({ unit: 'app', phase: 'plan', text: 'app 1\n' });
    out += p.push({ unit: 'net', phase: 'plan', text: '2\n' });
    out += p.push({ unit: 'app', phase: 'plan', text: 'no end' });
    out += p.end();
    assert.equal(out, '[net plan] net 1\n[app plan] app 1\n[net plan] net 2\n[app plan] no end\n');
    assert.equal(prefixedLines([{ unit: 'u', phase: 'init', text: '\n=== init\nok\n' }]), '[u init] \n[u init] === init\n[u init] ok\n');
    assert.equal(lastLines('a\nb\nc\n', 2), 'b\nc\n');
  });
});
