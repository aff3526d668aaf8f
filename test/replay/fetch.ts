/**
 * Fetches and decodes workflow histories from a running Temporal + Vault (the ones a test run used):
 *
 *   source <state dir>/env.sh     # STACKLY_TEST_TEMPORAL_ADDRESS/_NAMESPACE, STACKLY_TEST_VAULT_ADDR/_TOKEN (test/replay/services.ts)
 *   npx tsx test/replay/fetch.ts --out /tmp/histories --label old-9b69add [--query "WorkflowId = 'run-destroy-…'"]
 *
 * For code that has no recording hook (an older commit whose suites or a driver ran against services
 * you started yourself, see test/README.md "Replay tests"). Writes `<out>/<workflowType>/<label>--<id>--<run id prefix>.json`
 * for every closed workflow matching the query, every Payload decoded through the namespace's Vault
 * Transit codec (test/replay/record.ts).
 */
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createVaultKeyring } from '../../common/codec';
import { recordHistories } from './record';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      label: { type: 'string', default: 'fetched' },
      query: { type: 'string', default: "ExecutionStatus != 'Running'" },
    },
  });
  const env = process.env;
  const address = env.STACKLY_TEST_TEMPORAL_ADDRESS;
  const namespace = env.STACKLY_TEST_TEMPORAL_NAMESPACE ?? 'default';
  const vaultAddr = env.STACKLY_TEST_VAULT_ADDR;
  const vaultToken = env.STACKLY_TEST_VAULT_TOKEN;
  if (!values.out || !address || !vaultAddr || !vaultToken) {
    throw new Error('usage: STACKLY_TEST_TEMPORAL_ADDRESS, STACKLY_TEST_VAULT_ADDR and STACKLY_TEST_VAULT_TOKEN set; --out DIR [--label L] [--query Q]');
  }
  const codec = createVaultKeyring({ vaultAddr, vaultToken }).codec(namespace);
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const got = await recordHistories({ client, codec, dir: values.out, query: values.query!, label: values.label! });
    for (const g of got) process.stdout.write(`${g.status.padEnd(11)} ${g.type.padEnd(20)} ${g.file}\n`);
    process.stdout.write(`${got.length} histories written\n`);
  } finally {
    await connection.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
