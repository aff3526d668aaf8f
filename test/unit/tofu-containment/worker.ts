/**
 * A stand-in execution worker for test/unit/tofu-containment.test.ts: runs one command (`sh -c
 * <script>`) through runTofu, as a worker runs tofu, and stays alive until the test kills it.
 *
 *   node --require tsx/cjs test/unit/tofu-containment/worker.ts '<json spec>'
 */
import { writeFileSync } from 'node:fs';
import { GroupSupervisor, runTofu, type Containment } from '../../../activities/terraform/tofu';

interface Spec {
  /** detected: what this machine allows; pid-namespace / process-group: forced, with `prefix`. */
  mode: 'detected' | 'pid-namespace' | 'process-group';
  prefix?: string[];
  script: string;
  cwd: string;
  /** process-group: where to write the supervisor's pid. */
  supervisorPidFile?: string;
}

const spec = JSON.parse(process.argv[2]!) as Spec;
let containment: Containment | undefined;
if (spec.mode === 'process-group') containment = { mode: 'process-group', prefix: spec.prefix ?? [], description: 'test', supervisor: new GroupSupervisor() };
if (spec.mode === 'pid-namespace') containment = { mode: 'pid-namespace', prefix: spec.prefix ?? [], description: 'test' };

runTofu({
  bin: 'sh', args: ['-c', spec.script], cwd: spec.cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  phase: 'apply', what: 'test command', redact: (t) => t, ctx: { heartbeat: () => undefined },
  ...(containment ? { containment } : {}),
}).then(
  (r) => process.stdout.write(`done: ${r.stdout}`),
  (e: Error) => process.stdout.write(`failed: ${e.message}`),
);
if (containment?.supervisor && spec.supervisorPidFile) writeFileSync(spec.supervisorPidFile, String(containment.supervisor.pid));
