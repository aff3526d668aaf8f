/**
 * Bounded in-memory caches for plaintext data keys. Plaintext keys never leave the process, are
 * never logged, and are dropped after a bounded time and use count.
 */

/** A Map kept in least-recently-used order, with a maximum size and a time to live per entry. */
export class LruCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (maxEntries < 1) throw new Error('LruCache: maxEntries must be at least 1');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expiresAt <= this.now()) return undefined;
    this.entries.set(key, e); // most recently used goes last
    return e.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The data key one namespace currently encrypts with. */
export interface ActiveDataKey {
  key: Buffer;
  /** Transit ciphertext of `key` (`vault:vN:…`): stored in each payload's metadata. */
  wrapped: string;
  expiresAt: number;
  /** Payloads this key may still encrypt. */
  remaining: number;
}

/**
 * Hands out the active data key for encryption, one use per payload, and fetches a new one when the
 * current key is older than `ttlMs` or has encrypted `maxUses` payloads. Concurrent callers share one
 * in-flight fetch.
 */
export class DataKeyRing {
  private active: ActiveDataKey | undefined;
  private pending: Promise<ActiveDataKey> | undefined;
  /** Number of data keys fetched so far (for tests and metrics). */
  fetched = 0;

  constructor(
    private readonly fetchKey: () => Promise<{ plaintext: Buffer; ciphertext: string }>,
    readonly ttlMs: number,
    readonly maxUses: number,
    private readonly now: () => number = Date.now,
  ) {
    if (maxUses < 1) throw new Error('DataKeyRing: maxUses must be at least 1');
  }

  /** Takes one use of the active key, fetching a fresh key first when needed. */
  async acquire(): Promise<{ key: Buffer; wrapped: string }> {
    for (;;) {
      const a = this.active;
      if (a && a.remaining > 0 && a.expiresAt > this.now()) {
        a.remaining -= 1;
        return { key: a.key, wrapped: a.wrapped };
      }
      if (a) this.active = undefined;
      this.pending ??= this.fetchKey()
        .then((k) => {
          this.fetched += 1;
          const fresh: ActiveDataKey = { key: k.plaintext, wrapped: k.ciphertext, expiresAt: this.now() + this.ttlMs, remaining: this.maxUses };
          this.active = fresh;
          return fresh;
        })
        .finally(() => {
          this.pending = undefined;
        });
      await this.pending;
    }
  }

  /** Drops the active key: the next payload gets a fresh data key (e.g. right after a rotation). */
  invalidate(): void {
    this.active = undefined;
  }
}
