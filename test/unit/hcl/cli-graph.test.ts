import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertGolden, FIXTURES } from './golden';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');

async function stackly(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--require', 'tsx/cjs', join(ROOT, 'cli', 'index.ts'), ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('cli: stackly graph', function () {
  this.timeout(60_000);

  it('--json prints exactly units and references (golden)', async () => {
    const r = await stackly('graph', join(FIXTURES, 'realistic'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), ['units', 'references']);
    assertGolden('realistic/graph.json', r.stdout);
  });

  it('prints text and DOT', async () => {
    const t = await stackly('graph', join(FIXTURES, 'tofu-chain'));
    assert.equal(t.code, 0, t.stderr);
    assertGolden('tofu-chain/graph.txt', t.stdout);
    const d = await stackly('graph', join(FIXTURES, 'tofu-chain'), '--dot');
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^digraph stack \{/);
    assert.match(d.stdout, /label = "b\.c \(modules\)"/);
  });

  it('bad input: message on stderr, exit code 1, no stack trace', async () => {
    const dirs = ['malformed', 'resource-cycle', 'dangling-module', 'stack-unknown'];
    const results = await Promise.all(dirs.map((dir) => stackly('graph', join(FIXTURES, 'bad', dir))));
    for (const [i, dir] of dirs.entries()) {
      const r = results[i]!;
      assert.equal(r.code, 1, dir);
      assert.match(r.stderr, /^stackly: /m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${dir}: no stack trace`);
      assert.equal(r.stdout, '');
    }
    const missing = await stackly('graph', join(FIXTURES, 'does-not-exist'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /is not a directory/);
  });
});
