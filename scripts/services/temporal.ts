/** The Temporal dev server (`temporal server start-dev`): SQLite file, Web UI, namespace, search attributes. */
import { Connection } from '@temporalio/client';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { freePort, spawnService, waitFor, type ManagedProcess } from './process';

export interface TemporalOptions {
  bin: string;
  /** Where the SQLite file and log live; omit dbFile for an in-memory server. */
  stateDir: string;
  dbFile?: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  namespace: string;
  codecEndpoint?: string;
  timeoutMs?: number;
}

export interface TemporalService {
  address: string;
  namespace: string;
  uiUrl?: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

export async function startTemporal(o: TemporalOptions): Promise<TemporalService> {
  const port = o.port ?? (await freePort());
  const httpPort = await freePort();
  const metricsPort = await freePort();
  const uiPort = o.headless ? undefined : (o.uiPort ?? (await freePort()));
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--namespace', o.namespace,
    '--log-level', 'warn',
  ];
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  if (uiPort === undefined) args.push('--headless');
  else {
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    if (o.codecEndpoint) args.push('--ui-codec-endpoint', o.codecEndpoint);
  }
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);

  const proc = spawnService('temporal', o.bin, args, { logFile: join(o.stateDir, 'temporal.log') });
  const address = `127.0.0.1:${port}`;
  await waitFor(
    `Temporal dev server on ${address}`,
    async () => {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        const ns = await conn.workflowService.describeNamespace({ namespace: o.namespace });
        const sa = await conn.operatorService.listSearchAttributes({ namespace: o.namespace });
        const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(k in (sa.customAttributes ?? {})));
        if (missing.length) throw new Error(`search attributes not yet registered: ${missing.join(', ')}`);
        return !!ns.namespaceInfo;
      } finally {
        await conn.close();
      }
    },
    { timeoutMs: o.timeoutMs ?? 60_000, proc, intervalMs: 300 },
  );
  let uiUrl: string | undefined;
  if (uiPort !== undefined) {
    uiUrl = `http://127.0.0.1:${uiPort}`;
    await waitFor(`Temporal Web UI on ${uiUrl}`, async () => (await fetch(uiUrl!)).ok, { timeoutMs: 30_000, proc });
  }
  return { address, namespace: o.namespace, uiUrl, proc, stop: () => proc.stop() };
}
