import { FifoCache } from './fifo-cache.js'

/** A small bounded map that forgets the least recently set entry; for immutable or self-validating facts only. */
export class Lru<K, V> {
  private readonly cache: FifoCache<K, V>
  constructor(max: number) {
    this.cache = new FifoCache(max)
  }

  get(k: K): V | undefined {
    return this.cache.peek(k)
  }

  set(k: K, v: V): void {
    this.cache.set(k, v)
  }

  delete(k: K): void {
    this.cache.delete(k)
  }
}
