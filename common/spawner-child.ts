/**
 * The helper process of common/spawner.ts: runs the commands it is sent and answers with their exit
 * code and output. It stays small (no workflows, no caches), so each fork it makes is cheap.
 */
import { execFile } from 'node:child_process';
import type { ExecReply, ExecRequest } from './spawner';

process.on('message', (m: ExecRequest) => {
  const child = execFile(m.file, m.args, {
    cwd: m.cwd, env: m.env, encoding: 'buffer', maxBuffer: m.maxBuffer ?? 64 * 1024 * 1024,
  }, (err, stdout, stderr) => {
    const reply: ExecReply = { id: m.id, code: 0, stdout, stderr };
    if (err) {
      const c = (err as { code?: unknown }).code;
      reply.code = typeof c === 'number' ? c : null;
      reply.error = err.message;
    }
    process.send?.(reply);
  });
  if (m.input !== undefined) child.stdin?.end(Buffer.from(m.input));
  else child.stdin?.end();
});
process.on('disconnect', () => process.exit(0));
