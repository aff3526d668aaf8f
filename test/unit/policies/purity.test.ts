import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Files Temporal workflow code may import: they must import only each other (no Node, no hcl2json, no fs). */
const PURE = ['types', 'schedule', 'approvals', 'security', 'evaluate', 'locate', 'validate', 'resolve', 'render', 'hooks', 'stricter', 'index'];
const DIR = path.resolve(__dirname, '../../../policies');

describe('policies: the decision logic is workflow-safe', () => {
  for (const name of PURE) {
    it(`policies/${name}.ts imports only pure sibling modules and no clock or randomness`, () => {
      const src = readFileSync(path.join(DIR, `${name}.ts`), 'utf8');
      const imports = [...src.matchAll(/(?:from|import)\s+'([^']+)'/g)].map((m) => m[1]);
      for (const spec of imports) {
        assert.ok(spec.startsWith('./') && PURE.includes(spec.slice(2)), `${name}.ts imports ${spec}`);
      }
      const code = src.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      assert.doesNotMatch(code, /Date\.now\(|Math\.random\(|new Date\(\)|process\.|require\(/);
    });
  }
});
