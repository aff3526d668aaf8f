/**
 * Execution isolation: every tofu job runs as an unprivileged user of its own.
 *
 * `uid` mode (the default; the worker must be root): each job takes one uid/gid of
 * `EXECUTION_UID_RANGE` for as long as it runs (a uid is never shared by two jobs running at once, in
 * this process or another one using the same range: a claim file per uid), gets a job directory
 * `<root>/<random>` (0700, owned by that uid) with HOME and TMPDIR inside it, and tofu runs under
 * `setpriv --reuid --regid --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs`, inside
 * the PID namespace of tofu.ts's containment. The job cannot read what the worker owns: its work
 * directory (git mirrors, checkouts), its config and environment (`/proc/<worker>/environ` is the
 * worker's, and another uid may not read it), other jobs' directories (0700, other uids).
 *
 * The sandbox root (`<root>`, 0711: reachable, not listable) holds the job directories, the uid
 * claims (0700) and `shared/` (0755, worker-owned, read-only for jobs): a link or copy of the tofu
 * binary (the worker's may live under /root), the jobs' CLI config and the provider mirror
 * (`filesystem_mirror`, filled by the operator; there is no plugin cache a job could write).
 *
 * `none` mode (development only, `EXECUTION_ISOLATION=none`): tofu runs as the worker's own user,
 * as before; the worker logs a warning at start.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, closeSync, constants, copyFileSync, existsSync, fchownSync, fstatSync, linkSync, lstatSync,
  mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { findExecutable } from './tofu';

export type IsolationMode = 'uid' | 'none';

export interface UidRange { first: number; last: number }

/** `200000-200999` → { first, last }; throws naming the variable on a bad value. */
export function parseUidRange(text: string, name = 'EXECUTION_UID_RANGE'): UidRange {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`${name} must be <first>-<last> (e.g. 200000-200999), got "${text}"`);
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1000 || last > 4_294_967_294 || first > last) throw new Error(`${name}: expected 1000 <= first <= last < 4294967295, got "${text}"`);
  return { first, last };
}

/**
 * The uids of a range handed out to running jobs: at most one job per uid; the least recently
 * released uid first (a uid just given back is the last one reused); callers wait when all are
 * taken. `claim` (default: always) lets another process hold a uid of the same range.
 */
export class UidPool {
  private readonly free: number[];
  private readonly waiting: Array<() => void> = [];
  private readonly held = new Set<number>();

  constructor(readonly range: UidRange, private readonly claim: (uid: number) => boolean = () => true, private readonly unclaim: (uid: number) => void = () => undefined) {
    this.free = [];
    for (let u = range.first; u <= range.last; u++) this.free.push(u);
  }

  get size(): number { return this.range.last - this.range.first + 1; }
  get inUse(): number { return this.held.size; }

  /** A uid no other running job has, or undefined when none is free right now. */
  tryAcquire(): number | undefined {
    for (let i = 0; i < this.free.length; i++) {
      const uid = this.free[i]!;
      if (!this.claim(uid)) continue; // another process has it: try the next one
      this.free.splice(i, 1);
      this.held.add(uid);
      return uid;
    }
    return undefined;
  }

  /** Waits for a uid (rejects when `signal` aborts). */
  async acquire(signal?: AbortSignal): Promise<number> {
    for (;;) {
      const uid = this.tryAcquire();
      if (uid !== undefined) return uid;
      if (signal?.aborted) throw new Error('cancelled while waiting for an execution uid');
      await new Promise<void>((res) => {
        const timer = setTimeout(done, 1000); // another process may give one back meanwhile
        function done() { clearTimeout(timer); res(); }
        this.waiting.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  release(uid: number): void {
    if (!this.held.delete(uid)) return;
    this.unclaim(uid);
    this.free.push(uid);
    this.waiting.shift()?.();
  }
}

/** A uid claimed through a file holding this process's pid (`O_EXCL`); a dead holder's claim is taken over. */
export function fileClaims(dir: string): { claim(uid: number): boolean; unclaim(uid: number): void } {
  const path = (uid: number) => join(dir, String(uid));
  const alive = (pid: number): boolean => {
    try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  };
  return {
    claim(uid) {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const fd = openSync(path(uid), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
          writeSync(fd, String(process.pid));
          closeSync(fd);
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          let pid = NaN;
          try { pid = Number(readFileSync(path(uid), 'utf8')); } catch { /* just released */ }
          if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && alive(pid))) return false;
          // A dead process's claim (or a torn one): taken over once.
          try { unlinkSync(path(uid)); } catch { /* someone else did */ }
        }
      }
      return false;
    },
    unclaim(uid) {
      try { unlinkSync(path(uid)); } catch { /* gone */ }
    },
  };
}

export interface IsolationSettings {
  mode: IsolationMode;
  /** uid mode: the uids (and gids, the same numbers) jobs run as. */
  uidRange?: UidRange;
  /** The sandbox root (default `<tmpdir>/stackly-sandbox-<first>-<last>`, or `-none`). */
  root?: string;
  /** tofu or terraform: a path or a name on PATH. */
  tfBinary: string;
  /** A provider mirror (filesystem_mirror layout) jobs may read; default `<root>/shared/providers`. */
  providerMirror?: string;
  /** PATH to find setpriv, tofu (default this process's). */
  path?: string;
}

export interface JobUser { uid: number; gid: number }

/** A job's slot: its directory and (uid mode) the user it runs as. */
export interface SandboxJob {
  dir: string;
  user?: JobUser;
  /** Environment of the job: HOME and TMPDIR inside its directory. */
  env: Record<string, string>;
  /** After the worker wrote the job's files: give the whole directory to the job's user. */
  handOver(): Promise<void>;
  /** Writes a file into the job directory (never through a link the job made) owned by the job's user. */
  writeFile(path: string, data: string | Buffer, mode?: number): void;
  /** Removes a file of the job directory (never one a link of the job's points to). */
  removeFile(path: string): void;
  /** Reads a regular file of the job directory (refused when it is a link leaving the directory). */
  readFile(path: string): Buffer;
  /** Removes the directory (and the job's leftovers in world-writable places), then frees the uid. */
  close(keep?: boolean): Promise<void>;
}

export interface Isolation {
  mode: IsolationMode;
  root: string;
  /** The tofu binary jobs run (executable by the job users). */
  tfBinary: string;
  /** The jobs' CLI config (read-only provider mirror, no plugin cache). */
  cliConfig: string;
  /** argv put between the containment prefix and tofu (setpriv …), for a job user. */
  userPrefix(user: JobUser | undefined): string[];
  openJob(kind: string, signal?: AbortSignal): Promise<SandboxJob>;
  /** For the start-up log. */
  description: string;
  pool?: UidPool;
}

/** Every ancestor of `dir` must be searchable by others, or no job user can reach its directory. */
function checkReachable(dir: string): void {
  let d = resolve(dir);
  for (;;) {
    const parent = dirname(d);
    if (parent === d) return;
    d = parent;
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) throw new Error(`execution isolation: the sandbox root ${dir} is not reachable by job users: ${d} is not searchable by others (mode ${(st.mode & 0o777).toString(8)}); set EXECUTION_SANDBOX_DIR elsewhere`);
  }
}

const SETPRIV_FLAGS = ['--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'];

/** World-writable places a job could leave files in for a later job of the same uid. */
const SHARED_TMP = ['/tmp', '/var/tmp', '/dev/shm'];

/** Removes the top-level entries of the world-writable directories owned by `uid` (a job's leftovers). */
async function sweepLeftovers(uid: number): Promise<void> {
  for (const d of SHARED_TMP) {
    let names: string[];
    try { names = readdirSync(d); } catch { continue; }
    for (const n of names) {
      try {
        if (lstatSync(join(d, n)).uid === uid) await rm(join(d, n), { recursive: true, force: true });
      } catch { /* gone */ }
    }
  }
}

/** uids of the range that name a user of this machine (/etc/passwd): refused, jobs must not become them. */
function passwdClashes(range: UidRange): string[] {
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length > 3)
      .filter((f) => Number(f[2]) >= range.first && Number(f[2]) <= range.last).map((f) => `${f[0]} (${f[2]})`);
  } catch {
    return [];
  }
}

/**
 * The jobs' CLI config: providers only from the read-only mirror (or downloaded into the job's own
 * directory when not there), never a shared writable plugin cache.
 */
function jobCliConfig(mirror: string): string {
  return [
    'disable_checkpoint = true',
    'provider_installation {',
    `  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }`,
    '  direct {}',
    '}',
    '',
  ].join('\n');
}

/** The tofu binary in `shared/bin` (a hard link where possible, else a copy), executable by job users. */
function shareBinary(given: string, sharedBin: string): string {
  const bin = realpathSync(given);
  const st = statSync(bin);
  const dest = join(sharedBin, `tofu-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(dest)) return dest;
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    linkSync(bin, tmp);
    if ((statSync(tmp).mode & 0o005) !== 0o005) { rmSync(tmp); throw new Error('not world-executable'); }
  } catch {
    copyFileSync(bin, tmp);
    chmodSync(tmp, 0o755);
  }
  renameSync(tmp, dest);
  return dest;
}

/**
 * Sets up execution isolation once per process (see the top of this file). uid mode fails closed:
 * a worker that cannot switch users (not root, setpriv missing, the range names users of this
 * machine) throws, and runs no tofu.
 */
export function createIsolation(s: IsolationSettings): Isolation {
  const bin = findExecutable(s.tfBinary, s.path);
  if (!bin) throw new Error(`execution isolation: the tofu binary "${s.tfBinary}" was not found (TF_BINARY)`);
  if (s.mode === 'none') {
    const root = s.root ?? join(tmpdir(), `stackly-sandbox-none-${process.pid}`);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const shared = join(root, 'shared');
    mkdirSync(join(shared, 'plugin-cache'), { recursive: true });
    const cliConfig = join(shared, 'tofu.rc');
    writeFileAtomic(cliConfig, `plugin_cache_dir = ${JSON.stringify(join(shared, 'plugin-cache'))}\nplugin_cache_may_break_dependency_lock_file = true\ndisable_checkpoint = true\n`, 0o600);
    return {
      mode: 'none', root, tfBinary: bin, cliConfig,
      userPrefix: () => [],
      description: 'EXECUTION_ISOLATION=none: tofu and the stack code it runs (local-exec, external data sources) run as the worker\'s own user and can read its environment (VAULT_TOKEN, DATABASE_URL, S3 keys), files and other jobs; for development only',
      async openJob(kind) {
        const dir = mkdtempSync(join(root, `${kind.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
        return plainJob(dir);
      },
    };
  }

  const range = s.uidRange ?? parseUidRange('200000-200999');
  const euid = process.geteuid?.();
  if (euid !== 0) throw new Error(`execution isolation: tofu must run as users of EXECUTION_UID_RANGE (${range.first}-${range.last}), which needs a worker running as root (this one runs as uid ${euid ?? '?'}); refusing to run tofu. EXECUTION_ISOLATION=none runs it as the worker's own user (development only)`);
  const setpriv = findExecutable('setpriv', s.path);
  if (!setpriv) throw new Error('execution isolation: util-linux setpriv was not found; refusing to run tofu (EXECUTION_ISOLATION=none runs it as the worker\'s own user, development only)');
  const clashes = passwdClashes(range);
  if (clashes.length) throw new Error(`execution isolation: EXECUTION_UID_RANGE ${range.first}-${range.last} holds users of this machine (${clashes.slice(0, 5).join(', ')}); choose uids no account uses`);

  const root = s.root ?? join(tmpdir(), `stackly-sandbox-${range.first}-${range.last}`);
  mkdirSync(root, { recursive: true });
  const rs = lstatSync(root);
  if (!rs.isDirectory() || rs.uid !== 0) throw new Error(`execution isolation: the sandbox root ${root} must be a directory owned by root`);
  chmodSync(root, 0o711);
  checkReachable(root);
  const claimsDir = join(root, 'claims');
  mkdirSync(claimsDir, { recursive: true });
  chmodSync(claimsDir, 0o700);
  const shared = join(root, 'shared');
  mkdirSync(join(shared, 'bin'), { recursive: true });
  for (const d of [shared, join(shared, 'bin')]) chmodSync(d, 0o755);
  const mirror = s.providerMirror ?? join(shared, 'providers');
  mkdirSync(mirror, { recursive: true });
  if (!s.providerMirror) chmodSync(mirror, 0o755);
  if ((statSync(mirror).mode & 0o022) !== 0) throw new Error(`execution isolation: the provider mirror ${mirror} is writable by group or others: jobs must not be able to change providers`);
  const tfBinary = shareBinary(bin, join(shared, 'bin'));
  const cliConfig = join(shared, 'tofu.rc');
  writeFileAtomic(cliConfig, jobCliConfig(mirror), 0o644);

  const claims = fileClaims(claimsDir);
  const pool = new UidPool(range, claims.claim, claims.unclaim);
  const userPrefix = (u: JobUser | undefined): string[] => (u ? [setpriv, `--reuid=${u.uid}`, `--regid=${u.gid}`, ...SETPRIV_FLAGS, '--'] : []);

  // The switch must work here (a container may forbid setuid, or map no uid of the range).
  const probeUser = pool.tryAcquire();
  if (probeUser === undefined) throw new Error(`execution isolation: every uid of ${range.first}-${range.last} is claimed by running processes`);
  try {
    const probe = spawnSync(userPrefix({ uid: probeUser, gid: probeUser })[0]!, [...userPrefix({ uid: probeUser, gid: probeUser }).slice(1), 'sh', '-c', 'id -u; id -g; id -G'], { encoding: 'utf8', timeout: 10_000, env: { PATH: s.path ?? '/usr/bin:/bin' } });
    const ids = probe.stdout.trim().split('\n');
    if (probe.status !== 0 || ids[0] !== String(probeUser) || ids[1] !== String(probeUser) || ids[2] !== String(probeUser)) {
      throw new Error(`execution isolation: switching to uid ${probeUser} with setpriv failed (${(probe.error?.message ?? probe.stderr.trim()) || probe.stdout.trim() || `exit ${probe.status}`}); refusing to run tofu`);
    }
  } finally {
    pool.release(probeUser);
  }

  return {
    mode: 'uid', root, tfBinary, cliConfig, pool, userPrefix,
    description: `tofu runs as a uid of its own per job (${range.first}-${range.last}, ${pool.size} uids; setpriv ${SETPRIV_FLAGS.join(' ')}) in a 0700 job directory under ${root}; providers from the read-only mirror ${mirror}`,
    async openJob(kind, signal) {
      const uid = await pool.acquire(signal);
      const user = { uid, gid: uid };
      let dir: string;
      try {
        dir = mkdtempSync(join(root, `${kind.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
      } catch (e) {
        pool.release(uid);
        throw e;
      }
      const job = plainJob(dir, user);
      const close = job.close;
      let closed = false;
      job.close = async (keep) => {
        if (closed) return;
        closed = true;
        try {
          await close(keep);
          await sweepLeftovers(uid);
        } finally {
          // A kept directory stays the job uid's: its uid is not given to another job.
          if (!keep) pool.release(uid);
        }
      };
      return job;
    },
  };
}

function writeFileAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  writeSync(fd, text);
  closeSync(fd);
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Is the opened file inside `dir`? (The path the kernel resolved, so no link can fool it.) */
function fdInside(fd: number, dir: string): boolean {
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  return real.startsWith(dir + sep);
}

function plainJob(made: string, user?: JobUser): SandboxJob {
  const dir = realpathSync(made);
  const home = join(dir, 'home');
  const tmp = join(dir, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);
  chmodSync(dir, 0o700);
  const onLinux = process.platform === 'linux';
  return {
    dir,
    ...(user ? { user } : {}),
    env: { HOME: home, TMPDIR: tmp },
    async handOver() {
      if (!user) return;
      await new Promise<void>((res, rej) => {
        // -h -P: links themselves, never what they point to.
        const p = spawn('chown', ['-R', '-h', '-P', `${user.uid}:${user.gid}`, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
        p.on('error', rej);
        p.on('close', (code) => (code === 0 ? res() : rej(new Error(`giving the job directory to uid ${user.uid}: chown exit ${code}: ${err.trim().slice(0, 300)}`))));
      });
    },
    writeFile(path, data, mode = 0o600) {
      const abs = resolve(path);
      // The parent as the kernel resolves it (a directory of the checkout may be a link leaving it).
      const parent = realpathSync(dirname(abs));
      if (parent !== dir && !parent.startsWith(dir + sep)) throw new Error(`${path} is not in the job directory`);
      const target = join(parent, basename(abs));
      try {
        // A file or link of that name (from the checkout) is replaced, never written through.
        if (!lstatSync(target).isDirectory()) unlinkSync(target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), mode);
      try {
        if (onLinux && !fdInside(fd, dir)) throw new Error(`${path} leads out of the job directory`);
        writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
        if (user) fchownSync(fd, user.uid, user.gid);
      } finally {
        closeSync(fd);
      }
    },
    removeFile(path) {
      try {
        const parent = realpathSync(dirname(resolve(path)));
        if (parent === dir || parent.startsWith(dir + sep)) rmSync(join(parent, basename(path)), { force: true });
      } catch { /* gone with its directory */ }
    },
    readFile(path) {
      const fd = openSync(resolve(path), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
      try {
        if (!fstatSync(fd).isFile() || (onLinux && !fdInside(fd, dir))) throw new Error(`${path} is not a file of the job directory`);
        return readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    },
    async close(keep) {
      if (!keep) await rm(dir, { recursive: true, force: true });
    },
  };
}

const processIsolations = new Map<string, Isolation>();
let configured: Omit<IsolationSettings, 'tfBinary'> | undefined;

/** The process's isolation settings (workers/main.ts, from its config), before the first job. */
export function configureProcessIsolation(s: Omit<IsolationSettings, 'tfBinary'>): void {
  configured = s;
  processIsolations.clear();
}

/**
 * This process's isolation for a tofu binary, made on first use and shared by every activity
 * factory of the process (uids are handed out process-wide). Default: uid mode over 200000-200999.
 */
export function processIsolation(tfBinary: string): Isolation {
  let i = processIsolations.get(tfBinary);
  if (!i) {
    i = createIsolation({ ...(configured ?? { mode: 'uid' }), tfBinary });
    processIsolations.set(tfBinary, i);
  }
  return i;
}
