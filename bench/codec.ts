/**
 * Codec benchmark: `npx tsx bench/codec.ts`.
 * Uses VAULT_ADDR + VAULT_TOKEN (and TEMPORAL_ADDRESS) when set, otherwise starts a Vault dev server and
 * a headless Temporal dev server with the project's tool script. Prints measured figures only.
 *
 *  - encode / decode of 1 KiB and 256 KiB payloads, one payload per call (as a workflow task sends
 *    them): payloads/s, p50 and p99 latency. Decode is measured with the data key cached (steady
 *    state) and cold (every payload under its own data key, unwrapped by Vault on the call).
 *  - wall time of a small workflow (one activity; variables in, outputs out) with the codec and
 *    without, median of N sequential runs, and the ratio.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { defaultPayloadConverter, type DataConverter, type Payload } from '@temporalio/common';
import { createVaultCodec, dataConverterFor, transitKeyName } from '../common/codec';
import { ensureTransit, ensureTransitKey, resolveTools, startTemporal, startVault } from '../scripts/services';
import { createCodecTestActivities } from '../test/integration/codec/activities';

const NS = 'stackly-bench';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (x: number) => `${x.toFixed(3)} ms`;

async function measure(label: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(i); // warm-up
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    lat.push(performance.now() - t0);
  }
  const total = performance.now() - start;
  lat.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${String(n).padStart(5)} payloads  ${(n / (total / 1000)).toFixed(0).padStart(7)} payloads/s  p50 ${ms(pct(lat, 50))}  p99 ${ms(pct(lat, 99))}`);
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stops: Array<() => Promise<void>> = [];
  const stateDir = mkdtempSync(join(tmpdir(), 'stackly-bench-'));
  try {
    let vaultAddr = process.env.VAULT_ADDR;
    let vaultToken = process.env.VAULT_TOKEN;
    if (!vaultAddr || !vaultToken) {
      const v = await startVault({ bin: (await resolveTools(['vault'])).vault!, stateDir, mode: 'dev' });
      stops.push(() => v.stop());
      ({ addr: vaultAddr, token: vaultToken } = v);
    }
    await ensureTransit(vaultAddr, vaultToken);
    await ensureTransitKey(vaultAddr, vaultToken, transitKeyName(NS));
    console.log(`node ${process.version}, Vault ${vaultAddr}`);

    for (const size of [1024, 256 * 1024]) {
      const n = size === 1024 ? 5000 : 300;
      const label = size === 1024 ? '1 KiB' : '256 KiB';
      const payload: Payload = defaultPayloadConverter.toPayload(randomBytes(size * 0.75).toString('base64').slice(0, size - 2));
      const codec = createVaultCodec({ vaultAddr, vaultToken, namespace: NS });
      const encoded: Payload[] = [];
      await measure(`encode ${label}`, n, async () => encoded.push(...(await codec.encode([payload]))));
      await measure(`decode ${label} (data key cached)`, n, (i) => codec.decode([encoded[i % encoded.length]!]));
      // Cold: every payload under its own data key; a fresh process unwraps each through Vault.
      const oneUse = createVaultCodec({ vaultAddr, vaultToken, namespace: NS, dataKeyMaxUses: 1 });
      const coldN = Math.min(n, 500);
      const cold: Payload[] = [];
      for (let i = 0; i < coldN + 20; i++) cold.push(...(await oneUse.encode([payload])));
      const reader = createVaultCodec({ vaultAddr, vaultToken, namespace: NS });
      await measure(`decode ${label} (cold: Vault unwrap per call)`, coldN, (i) => reader.decode([cold[i]!]));
      await measure(`encode ${label} (new data key per payload)`, Math.min(n, 300), () => oneUse.encode([payload]));
    }

    let address = process.env.TEMPORAL_ADDRESS;
    let namespace = NS;
    if (!address) {
      const t = await startTemporal({ bin: (await resolveTools(['temporal'])).temporal!, stateDir, namespace: NS, headless: true });
      stops.push(() => t.stop());
      address = t.address;
    } else namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
    await ensureTransitKey(vaultAddr, vaultToken, transitKeyName(namespace));

    const runs = 30;
    const wall = async (label: string, dataConverter: DataConverter | undefined): Promise<number> => {
      const taskQueue = `bench-${label}-${Date.now()}`;
      const nc = await NativeConnection.connect({ address: address! });
      const worker = await Worker.create({
        connection: nc, namespace, taskQueue, dataConverter,
        workflowsPath: require.resolve('../test/integration/codec/workflows'), activities: createCodecTestActivities(),
      });
      const conn = await Connection.connect({ address: address! });
      const client = new Client({ connection: conn, namespace, dataConverter });
      const times: number[] = [];
      await worker.runUntil(async () => {
        for (let i = 0; i < runs + 3; i++) {
          const t0 = performance.now();
          await client.workflow.execute('codecTestWorkflow', {
            taskQueue, workflowId: `${taskQueue}-${i}`,
            args: [{ stack: 'network', variables: { db_password: 'bench-secret', region: 'eu', blob: 'x'.repeat(4096) } }],
          });
          if (i >= 3) times.push(performance.now() - t0);
        }
      });
      await conn.close();
      await nc.close();
      times.sort((a, b) => a - b);
      const med = pct(times, 50);
      console.log(`workflow wall time ${label.padEnd(14)} median ${ms(med)}  p90 ${ms(pct(times, 90))}  (${runs} runs)`);
      return med;
    };
    const plain = await wall('without codec', undefined);
    const enc = await wall('with codec', dataConverterFor(createVaultCodec({ vaultAddr, vaultToken, namespace })));
    console.log(`ratio with/without codec: ${(enc / plain).toFixed(3)}`);
  } finally {
    while (stops.length) await stops.pop()!().catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
