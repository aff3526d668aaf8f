// The spec reporter, plus one plain closing line "tests: N passed, N failed, N skipped" for CI.
'use strict';
const Mocha = require('mocha');

class StacklyReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const s = runner.stats;
      process.stdout.write(`\ntests: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = StacklyReporter;
