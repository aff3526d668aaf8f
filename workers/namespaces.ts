/**
 * One Temporal Worker per account namespace in one process: the control worker and every execution
 * worker serve every account. The namespaces are those of ready accounts in Postgres (plus the
 * process's own TEMPORAL_NAMESPACE, the platform account's), read at start and again every few
 * seconds, so an account made through the api gets served without a restart. Each Worker has that
 * namespace's codec (its own Transit key) and activities made for that namespace.
 *
 * A Worker that cannot be made (the namespace is not served yet) or that stops on a fatal error is
 * logged and made again at the next refresh; shutting down stops them all and waits for each.
 */
import type { Logger } from 'pino';
import type { Worker } from '@temporalio/worker';

export interface NamespaceWorkersOptions {
  /** The namespaces to serve now. */
  namespaces(): Promise<string[]>;
  /** Makes the Worker of one namespace (its codec, its activities). */
  create(namespace: string): Promise<Worker>;
  refreshMs: number;
  logger: Logger;
}

export interface NamespaceWorkers {
  /** Namespaces with a running Worker. */
  serving(): string[];
  /** Looks for new namespaces now (also done every refreshMs). */
  refresh(): Promise<void>;
  /** Resolves when every Worker has stopped after shutdown(). */
  run(): Promise<void>;
  shutdown(): void;
}

export function startNamespaceWorkers(o: NamespaceWorkersOptions): NamespaceWorkers {
  const workers = new Map<string, { worker: Worker; running: Promise<void> }>();
  const starting = new Set<string>();
  let stopping = false;
  let refreshing: Promise<void> | undefined;
  let stopped!: () => void;
  const allStopped = new Promise<void>((r) => { stopped = r; });

  const startOne = async (namespace: string) => {
    starting.add(namespace);
    try {
      const worker = await o.create(namespace);
      if (stopping) {
        // Shut down while this one was being made: it never polls.
        return;
      }
      const running = worker.run().then(
        () => o.logger.info({ namespace }, 'namespace worker stopped'),
        (e: unknown) => o.logger.error({ namespace, err: (e as Error).message }, 'namespace worker failed; made again at the next refresh'),
      ).finally(() => {
        workers.delete(namespace);
        if (stopping && workers.size === 0 && starting.size === 0) stopped();
      });
      workers.set(namespace, { worker, running });
      o.logger.info({ namespace }, 'serving namespace');
    } catch (e) {
      o.logger.warn({ namespace, err: (e as Error).message }, 'cannot serve namespace yet; trying again at the next refresh');
    } finally {
      starting.delete(namespace);
      if (stopping && workers.size === 0 && starting.size === 0) stopped();
    }
  };

  const refresh = async () => {
    if (stopping) return;
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const want = await o.namespaces();
        await Promise.all(want.filter((ns) => !workers.has(ns) && !starting.has(ns)).map(startOne));
      } catch (e) {
        o.logger.warn({ err: (e as Error).message }, 'reading the accounts\' namespaces failed; trying again at the next refresh');
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  const timer = setInterval(() => void refresh(), o.refreshMs);
  timer.unref();

  return {
    serving: () => [...workers.keys()].sort(),
    refresh,
    run: () => allStopped,
    shutdown() {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      if (workers.size === 0 && starting.size === 0) stopped();
      for (const [namespace, w] of workers) {
        try {
          w.worker.shutdown();
        } catch (e) {
          o.logger.warn({ namespace, err: (e as Error).message }, 'namespace worker was not running');
        }
      }
    },
  };
}
