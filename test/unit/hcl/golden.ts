/** Golden files: compare, or rewrite them when UPDATE_GOLDEN=1. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'graph');
export const GOLDEN = join(FIXTURES, 'golden');

export function assertGolden(rel: string, actual: string): void {
  const file = join(GOLDEN, rel);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `golden file ${file} is missing: run the tests with UPDATE_GOLDEN=1`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${rel} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)`);
}
