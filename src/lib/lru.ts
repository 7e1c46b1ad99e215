/** A small bounded map that forgets the least recently set entry; for immutable or self-validating facts only. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()
  constructor(private readonly max: number) {}

  get(k: K): V | undefined {
    return this.map.get(k)
  }

  set(k: K, v: V): void {
    this.map.delete(k)
    this.map.set(k, v)
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K)
  }

  delete(k: K): void {
    this.map.delete(k)
  }
}
