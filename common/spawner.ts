/**
 * Short commands (git) run through a small helper process instead of being forked from the worker.
 *
 * Node forks child processes from its main thread, and a fork costs time in proportion to the
 * parent's memory: measured here, 100 `git --version` cost 142 ms from a fresh node and 2,416 ms
 * from one holding 750 MB, with the event loop blocked all along. A worker holding a workflow cache
 * is such a process, and a push or a unit activity runs dozens of git commands. The helper
 * (`spawner-child.ts`) is started lazily, runs the commands concurrently, answers over IPC (Buffers
 * intact) and is restarted when it dies; the commands in flight then fail and are retried by their
 * activity. Long-running processes that stream output or take signals (tofu) are spawned directly.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface ExecRequest {
  id: number;
  file: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Written to the command's stdin, then stdin is closed. */
  input?: Uint8Array;
  maxBuffer?: number;
}

export interface ExecReply {
  id: number;
  /** Exit code; null when the command could not start or was killed (see `error`). */
  code: number | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  error?: string;
}

export interface ExecResult {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
  error?: string;
}

type Pending = { resolve: (r: ExecResult) => void; reject: (e: Error) => void };

class Spawner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  private ensure(): ChildProcess {
    if (this.child?.connected) return this.child;
    const entry = require.resolve('./spawner-child');
    // From sources (tests, tsx) the helper is TypeScript too: make sure the child can load it.
    const execArgv = entry.endsWith('.ts') ? [...process.execArgv, '--require', require.resolve('tsx/cjs')] : process.execArgv;
    const child = fork(entry, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (r: ExecReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      this.refresh();
      p.resolve({ code: r.code, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr), ...(r.error ? { error: r.error } : {}) });
    });
    const lost = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p.reject(new Error(`the command helper process ${why}`));
    };
    child.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    child.on('error', (e) => lost(`failed: ${e.message}`));
    this.child = child;
    return child;
  }

  /** Keeps the helper from holding the process open while nothing is pending. */
  private refresh(): void {
    const c = this.child;
    if (!c) return;
    const channel = c.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.pending.size > 0) { c.ref(); channel?.ref?.(); } else { c.unref(); channel?.unref?.(); }
  }

  exec(file: string, args: string[], opts: Omit<ExecRequest, 'id' | 'file' | 'args'> = {}): Promise<ExecResult> {
    const child = this.ensure();
    const id = ++this.seq;
    return new Promise<ExecResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.refresh();
      const req: ExecRequest = { id, file, args, ...opts };
      child.send(req, (e) => {
        if (!e) return;
        this.pending.delete(id);
        this.refresh();
        reject(new Error(`sending a command to the helper process: ${e.message}`));
      });
    });
  }
}

const shared = new Spawner();

/** Runs `file args` in the shared helper process; resolves with its exit code and output (never rejects on a non-zero exit). */
export function execInHelper(file: string, args: string[], opts: Omit<ExecRequest, 'id' | 'file' | 'args'> = {}): Promise<ExecResult> {
  return shared.exec(file, args, opts);
}
