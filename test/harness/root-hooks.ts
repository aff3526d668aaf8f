/** Mocha root hooks: services started lazily by suites are stopped once, after the whole run. */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopAllServices } from './services';

// Workers in tests log warnings and errors only; set TEMPORAL_LOG_LEVEL=INFO to see more.
Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'INFO' | undefined) ?? 'WARN') });

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopAllServices();
  },
};
