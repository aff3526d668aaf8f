/**
 * Execution isolation (activities/terraform/sandbox.ts) and the per-unit state session policy
 * (state-credentials.ts): uid allocation, the policy document, and, where this process is root,
 * the real switch: a job (`sh` standing in for tofu, through runTofu and the worker's containment)
 * runs as its own uid, in its own 0700 directory, and cannot read the worker's environment, its work
 * directory, another job's directory or the shared binaries' directory for writing.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIsolation, fileClaims, parseUidRange, UidPool, type Isolation } from '../../activities/terraform/sandbox';
import { stateSessionPolicy } from '../../activities/terraform/state-credentials';
import { RunLog, runTofu, tofuEnv } from '../../activities/terraform/tofu';

describe('execution isolation: uid allocation', () => {
  it('parses ranges and refuses bad ones, naming the variable', () => {
    assert.deepEqual(parseUidRange('200000-200999'), { first: 200000, last: 200999 });
    assert.deepEqual(parseUidRange(' 5000 - 5000 '), { first: 5000, last: 5000 });
    for (const bad of ['', '200000', '5-10', '300-200', 'a-b', '2000-9999999999']) {
      assert.throws(() => parseUidRange(bad), /EXECUTION_UID_RANGE/);
    }
  });

  it('never gives one uid to two running jobs; reuses the least recently released last', () => {
    const pool = new UidPool({ first: 100, last: 102 });
    const a = pool.tryAcquire();
    const b = pool.tryAcquire();
    const c = pool.tryAcquire();
    assert.deepEqual([a, b, c], [100, 101, 102]);
    assert.equal(pool.tryAcquire(), undefined);
    pool.release(101);
    pool.release(100);
    assert.equal(pool.tryAcquire(), 101);
    assert.equal(pool.tryAcquire(), 100);
    pool.release(100);
    pool.release(100); // twice: no duplicate
    assert.equal(pool.tryAcquire(), 100);
    assert.equal(pool.tryAcquire(), undefined);
  });

  it('waits for a free uid, and skips uids another process claims', async () => {
    const taken = new Set([201]);
    const pool = new UidPool({ first: 200, last: 202 }, (u) => !taken.has(u));
    assert.equal(await pool.acquire(), 200);
    assert.equal(await pool.acquire(), 202);
    let got: number | undefined;
    const waiting = pool.acquire().then((u) => { got = u; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, undefined);
    pool.release(202);
    await waiting;
    assert.equal(got, 202);
    const ac = new AbortController();
    const cancelled = pool.acquire(ac.signal);
    ac.abort();
    await assert.rejects(cancelled, /cancelled/);
  });

  it('claims uids across processes by file, taking over a dead process\'s claim', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    try {
      const c = fileClaims(dir);
      assert.equal(c.claim(7), true);
      assert.equal(c.claim(7), false, 'held by this process already');
      writeFileSync(join(dir, '8'), '1'); // pid 1: alive
      assert.equal(c.claim(8), false);
      writeFileSync(join(dir, '9'), '999999999'); // no such process
      assert.equal(c.claim(9), true);
      assert.equal(readFileSync(join(dir, '9'), 'utf8'), String(process.pid));
      c.unclaim(7);
      assert.equal(existsSync(join(dir, '7')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('per-unit state credentials: the session policy', () => {
  const key = 'acme/0b6f7c4e-8a5e-4d0e-9a57-3f1f7a0f6c11/net.tfstate';
  const policy = JSON.parse(stateSessionPolicy('stackly', key)) as { Version: string; Statement: Array<{ Effect: string; Action: string[]; Resource: string[]; Condition?: unknown }> };

  it('allows object access to the state key and its lock only', () => {
    assert.equal(policy.Version, '2012-10-17');
    const objects = policy.Statement.find((s) => s.Action.includes('s3:GetObject'))!;
    assert.deepEqual(objects.Action.sort(), ['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    assert.deepEqual(objects.Resource, [`arn:aws:s3:::stackly/${key}`, `arn:aws:s3:::stackly/${key}.tflock`]);
    for (const s of policy.Statement) {
      assert.equal(s.Effect, 'Allow');
      for (const r of s.Resource) assert.ok(!r.includes('*'), `no wildcard resource: ${r}`);
      for (const a of s.Action) assert.ok(!a.includes('*'), `no wildcard action: ${a}`);
    }
  });

  it('lists the bucket only under the state key and the (empty) workspace prefix', () => {
    const list = policy.Statement.find((s) => s.Action.includes('s3:ListBucket'))!;
    assert.deepEqual(list.Action, ['s3:ListBucket']);
    assert.deepEqual(list.Resource, ['arn:aws:s3:::stackly']);
    assert.deepEqual(list.Condition, { StringEquals: { 's3:prefix': ['env:/', key, `${key}.tflock`] } });
  });

  it('fits the 2048 characters STS allows for a session policy, even for long keys', () => {
    const long = `${'a'.repeat(63)}/0b6f7c4e-8a5e-4d0e-9a57-3f1f7a0f6c11/${'u'.repeat(100)}.tfstate`;
    assert.ok(stateSessionPolicy('b'.repeat(63), long).length < 2048);
  });
});

const isRoot = process.geteuid?.() === 0;

(isRoot ? describe : describe.skip)('execution isolation: a job runs as its own uid (root only)', function () {
  this.timeout(60_000);
  let root: string;
  let isolation: Isolation;
  let workDir: string;
  const range = { first: 299_900, last: 299_903 };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'sandbox-'));
    chmodSync(root, 0o711);
    workDir = mkdtempSync(join(tmpdir(), 'worker-'));
    writeFileSync(join(workDir, 'config'), 'VAULT_TOKEN=worker-secret');
    isolation = createIsolation({ mode: 'uid', uidRange: range, root: join(root, 'sb'), tfBinary: '/bin/sh' });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const run = async (job: Awaited<ReturnType<Isolation['openJob']>>, script: string, env: Record<string, string> = {}) => {
    await job.handOver();
    return runTofu({
      bin: isolation.tfBinary, args: ['-c', script], cwd: job.dir, phase: 'test', what: 'a job', redact: (t) => t,
      log: new RunLog((t) => t), ctx: { heartbeat: () => undefined },
      userPrefix: isolation.userPrefix(job.user), env: tofuEnv(isolation.cliConfig, { ...job.env, ...env }, { PATH: '/usr/bin:/bin' }),
      okExitCodes: [1, 2],
    });
  };

  it('sets up a 0711 root, a read-only shared dir and binary, and describes itself', () => {
    assert.equal(isolation.mode, 'uid');
    assert.equal(statSync(isolation.root).mode & 0o777, 0o711);
    assert.equal(statSync(join(isolation.root, 'shared')).mode & 0o777, 0o755);
    assert.equal(statSync(join(isolation.root, 'claims')).mode & 0o777, 0o700);
    assert.match(isolation.description, /uid of its own per job \(299900-299903/);
  });

  it('runs the job as a uid of the range with no groups, HOME and TMPDIR in its 0700 directory', async () => {
    const job = await isolation.openJob('t');
    try {
      assert.ok(job.user && job.user.uid >= range.first && job.user.uid <= range.last);
      job.writeFile(join(job.dir, 'vars.json'), '{"a":1}');
      const { stdout } = await run(job, 'id -u; id -g; id -G; echo "$HOME" "$TMPDIR"; cat vars.json; echo; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status');
      const lines = stdout.trim().split('\n');
      assert.equal(lines[0], String(job.user!.uid));
      assert.equal(lines[1], String(job.user!.uid));
      assert.equal(lines[2], String(job.user!.uid));
      assert.equal(lines[3], `${job.dir}/home ${job.dir}/tmp`);
      assert.equal(lines[4], '{"a":1}');
      assert.match(stdout, /CapEff:\s+0+\n/);
      assert.match(stdout, /NoNewPrivs:\s+1/);
      const st = lstatSync(job.dir);
      assert.equal(st.uid, job.user!.uid);
      assert.equal(st.mode & 0o777, 0o700);
    } finally {
      await job.close();
    }
  });

  it('cannot read the worker\'s environment, work directory or another job\'s directory, nor write the shared directory', async () => {
    const a = await isolation.openJob('a');
    const b = await isolation.openJob('b');
    try {
      assert.notEqual(a.user!.uid, b.user!.uid, 'two running jobs never share a uid');
      b.writeFile(join(b.dir, 'secret'), 'other-job-secret');
      await b.handOver();
      const script = [
        `cat /proc/${process.pid}/environ && echo LEAK-environ`,
        `cat /proc/${process.ppid}/environ && echo LEAK-parent-environ`,
        `cat ${workDir}/config && echo LEAK-workdir`,
        `ls ${workDir} && echo LEAK-workdir-list`,
        `cat ${b.dir}/secret && echo LEAK-other-job`,
        `ls ${isolation.root} && echo LEAK-root-list`,
        `touch ${isolation.root}/shared/x && echo LEAK-shared-write`,
        `touch ${isolation.root}/shared/providers/x && echo LEAK-mirror-write`,
        `cp /bin/true ${isolation.tfBinary} && echo LEAK-binary-write`,
        `ls ${isolation.root}/claims && echo LEAK-claims`,
        'cat /proc/1/environ && echo LEAK-init',
        'env',
        'exit 0',
      ].join('; ');
      const { stdout } = await run(a, script);
      assert.doesNotMatch(stdout, /LEAK-/);
      assert.doesNotMatch(stdout, /worker-secret|other-job-secret|VAULT_TOKEN|DATABASE_URL/);
      // The job's environment is exactly the built one.
      const env = stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]).sort();
      for (const k of env) assert.ok(['CHECKPOINT_DISABLE', 'HOME', 'PATH', 'PWD', 'SHLVL', 'TF_CLI_CONFIG_FILE', 'TF_INPUT', 'TF_IN_AUTOMATION', 'TMPDIR', 'OLDPWD', '_'].includes(k), `unexpected variable ${k}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('never writes through, nor reads through, a link leaving the job directory', async () => {
    const job = await isolation.openJob('links');
    try {
      const outside = join(workDir, 'target');
      writeFileSync(outside, 'worker file');
      mkdirSync(join(job.dir, 'src'));
      symlinkSync(outside, join(job.dir, 'src', 'override.json'));
      symlinkSync(workDir, join(job.dir, 'srcdir'));
      job.writeFile(join(job.dir, 'src', 'override.json'), 'job data');
      assert.equal(readFileSync(outside, 'utf8'), 'worker file', 'the link was replaced, not written through');
      assert.equal(readFileSync(join(job.dir, 'src', 'override.json'), 'utf8'), 'job data');
      assert.throws(() => job.writeFile(join(job.dir, 'srcdir', 'x'), 'y'), /not in the job directory/);
      assert.equal(existsSync(join(workDir, 'x')), false);
      symlinkSync(outside, join(job.dir, 'plan'));
      assert.throws(() => job.readFile(join(job.dir, 'plan')));
      assert.throws(() => job.readFile(join(job.dir, 'srcdir', 'target')), /not a file of the job directory/);
      job.removeFile(join(job.dir, 'srcdir', 'target'));
      assert.equal(existsSync(outside), true, 'removeFile never follows a directory link out');
    } finally {
      await job.close();
    }
  });

  it('removes the job directory and the job uid\'s leftovers in /tmp before the uid is reused', async () => {
    const job = await isolation.openJob('leftover');
    const uid = job.user!.uid;
    const name = `stackly-leftover-${process.pid}`;
    await run(job, `echo data > /tmp/${name}; chmod 600 /tmp/${name}`);
    assert.equal(lstatSync(`/tmp/${name}`).uid, uid);
    await job.close();
    assert.equal(existsSync(job.dir), false);
    assert.equal(existsSync(`/tmp/${name}`), false);
  });

  it('fails closed: a worker that is not root refuses to run tofu, naming EXECUTION_ISOLATION=none', () => {
    const real = process.geteuid;
    process.geteuid = () => 1000;
    try {
      assert.throws(() => createIsolation({ mode: 'uid', uidRange: range, root: join(root, 'nr'), tfBinary: '/bin/sh' }), /needs a worker running as root .*refusing to run tofu.*EXECUTION_ISOLATION=none/s);
    } finally {
      process.geteuid = real;
    }
    const none = createIsolation({ mode: 'none', root: join(root, 'none'), tfBinary: '/bin/sh' });
    assert.equal(none.mode, 'none');
    assert.deepEqual(none.userPrefix(undefined), []);
    assert.match(none.description, /can read its environment .*development only/);
  });

  it('fails closed: a range naming a user of this machine, or an unreachable root, is refused', () => {
    assert.throws(() => createIsolation({ mode: 'uid', uidRange: { first: 65534, last: 65534 }, root: join(root, 'x'), tfBinary: '/bin/sh' }), /holds users of this machine/);
    const hidden = mkdtempSync(join(tmpdir(), 'hidden-')); // 0700
    try {
      assert.throws(() => createIsolation({ mode: 'uid', uidRange: range, root: join(hidden, 'sb'), tfBinary: '/bin/sh' }), /not reachable by job users/);
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  });
});
