/**
 * The real api process (api/main.ts under tsx, as `node dist/api/main.js` runs in production) for
 * end-to-end suites: its environment from a suite's schema and the harness's services, start
 * (resolves with its URL once it logs that it listens), stop. It starts runs on CONTROL_TASK_QUEUE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TemporalEndpoint, VaultEndpoint } from './services';

const ROOT = join(__dirname, '..', '..');

export interface ApiProcessSettings {
  db: { url: string; schema: string };
  temporal: TemporalEndpoint;
  vault: VaultEndpoint;
  webhookSecret: string;
  extra?: Record<string, string>;
}

export function apiProcessEnv(s: ApiProcessSettings): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, HOME: process.env.HOME,
    DATABASE_URL: s.db.url, DATABASE_SCHEMA: s.db.schema,
    TEMPORAL_ADDRESS: s.temporal.address, TEMPORAL_NAMESPACE: s.temporal.namespace,
    API_HOST: '127.0.0.1', API_PORT: '0', LOG_LEVEL: 'info',
    GITHUB_WEBHOOK_SECRET: s.webhookSecret,
    VAULT_ADDR: s.vault.addr, VAULT_TOKEN: s.vault.token,
    ...s.extra,
  };
}

export interface ApiProcess {
  child: ChildProcess;
  url: string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts api/main.ts and resolves with its base URL once it logs that it listens. */
export function startApiProcess(env: NodeJS.ProcessEnv): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'api/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`api did not start:\n${out}\n${err}`)), 30_000);
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"api listening"')) continue;
        clearTimeout(timer);
        resolve({ child, url: (JSON.parse(line) as { address: string }).address, stop });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`api exited with ${code}:\n${out}\n${err}`)); });
  });
}
