// Runs async work one at a time per key (the packets of one RADIUS session), different keys in
// parallel. Entries live only while work for the key is queued, so the map is bounded by the
// server's in-flight bound; tryRun also bounds the queue of one key.

export class KeyedLock {
  private readonly queues = new Map<string, { tail: Promise<void>; depth: number }>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.tryRun(key, Infinity, work)!;
  }

  /**
   * As run, unless `maxDepth` pieces of work for the key are already queued or running: then
   * undefined, and nothing is queued.
   */
  tryRun<T>(key: string, maxDepth: number, work: () => Promise<T>): Promise<T> | undefined {
    const queued = this.queues.get(key);
    if (queued !== undefined && queued.depth >= maxDepth) return undefined;
    const before = queued?.tail ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const entry = queued ?? { tail: before, depth: 0 };
    entry.tail = before.then(() => mine);
    entry.depth++;
    this.queues.set(key, entry);
    return (async () => {
      try {
        await before;
        return await work();
      } finally {
        release();
        if (--entry.depth === 0 && this.queues.get(key) === entry) this.queues.delete(key);
      }
    })();
  }

  get size(): number {
    return this.queues.size;
  }

  /** Work queued or running for the key. */
  depth(key: string): number {
    return this.queues.get(key)?.depth ?? 0;
  }
}
