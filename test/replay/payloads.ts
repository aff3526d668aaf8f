/**
 * Prints every payload of recorded history files as text, one line each, prefixed with the file and
 * the event id: to read a history, or to search it for anything secret-like before committing it:
 *
 *   npx tsx test/replay/payloads.ts test/fixtures/histories/stackRunWorkflow/x.json | grep -iE 'secret|token|password'
 */
import { readFileSync } from 'node:fs';
import { historyFromJSON } from './history-json';

process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));

for (const file of process.argv.slice(2)) {
  const history = historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
  for (const event of history.events ?? []) {
    const texts: string[] = [];
    const walk = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      if (ArrayBuffer.isView(node)) {
        texts.push(Buffer.from(node.buffer, node.byteOffset, node.byteLength).toString('utf8'));
        return;
      }
      for (const v of Object.values(node)) walk(v);
    };
    walk(event);
    for (const t of texts) if (t.length > 0) process.stdout.write(`${file}#${String(event.eventId)}: ${t.replace(/\n/g, '\\n')}\n`);
  }
}
