// Runs async work one at a time per key (the packets of one RADIUS session), different keys in
// parallel. Entries live only while work for the key is queued, so the map is bounded by the
// server's in-flight bound; tryRun also bounds the queue of one key.
//
// Every accounting report goes through here, nearly always for a key with nothing queued: that
// work starts at once, and the only promise added is the one the next piece of work would wait on.

interface Queue {
  /** Settles (never rejects) once the last piece of work queued for the key has settled. */
  tail: Promise<void> | undefined;
  depth: number;
}

export class KeyedLock {
  private readonly queues = new Map<string, Queue>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.tryRun(key, Infinity, work)!;
  }

  /**
   * As run, unless `maxDepth` pieces of work for the key are already queued or running: then
   * undefined, and nothing is queued.
   */
  tryRun<T>(key: string, maxDepth: number, work: () => Promise<T>): Promise<T> | undefined {
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = { tail: undefined, depth: 0 };
      this.queues.set(key, queue);
    } else if (queue.depth >= maxDepth) {
      return undefined;
    }
    const q = queue;
    q.depth++;
    const result = q.tail === undefined ? start(work) : q.tail.then(work);
    const done = (): void => {
      if (--q.depth === 0 && this.queues.get(key) === q) this.queues.delete(key);
    };
    q.tail = result.then(done, done);
    return result;
  }

  get size(): number {
    return this.queues.size;
  }

  /** Work queued or running for the key. */
  depth(key: string): number {
    return this.queues.get(key)?.depth ?? 0;
  }
}

/** work(), a synchronous throw included as a rejection (a queue must always learn that it settled). */
function start<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (err) {
    return Promise.reject(err);
  }
}
