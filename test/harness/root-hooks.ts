/** Mocha root hooks: services started lazily by suites are stopped once, after the whole run. */
import { inspect } from 'node:util';
import type { LogLevel } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { SafeTemporalLogger } from '../../common/temporal-logger';
import { stopAllServices } from './services';

// Workers in tests log warnings and errors only; set TEMPORAL_LOG_LEVEL=INFO to see more.
// Failure messages are left out as in the workers' logger (they may quote variables).
Runtime.install({
  logger: new SafeTemporalLogger((process.env.TEMPORAL_LOG_LEVEL as LogLevel | undefined) ?? 'WARN', (level, message, meta) => {
    process.stderr.write(`${new Date().toISOString()} [${level}] ${message}${meta ? ` ${inspect(meta, { depth: 3, breakLength: Infinity })}` : ''}\n`);
  }),
});

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopAllServices();
  },
};
