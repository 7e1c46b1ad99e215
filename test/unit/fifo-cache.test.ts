import t from 'tap'
import { FifoCache } from '../../src/lib/fifo-cache.js'
import { Lru } from '../../src/lib/lru.js'

t.test('bounded in entries: the oldest write goes first, a rewrite counts as the newest', async (t) => {
  const c = new FifoCache<string, number>(3)
  c.set('a', 1)
  c.set('b', 2)
  c.set('c', 3)
  c.set('a', 10) // a is now the newest
  c.set('d', 4) // b goes
  t.equal(c.size, 3)
  t.equal(c.peek('b'), undefined, 'the oldest write evicted')
  t.same([c.peek('a'), c.peek('c'), c.peek('d')], [10, 3, 4])
  c.set('e', 5) // c goes
  t.equal(c.peek('c'), undefined)
  c.delete('a')
  c.set('f', 6) // room after the delete: nothing goes
  t.same([c.size, c.peek('d'), c.peek('e'), c.peek('f')], [3, 4, 5, 6])
})

t.test('bounded in age: get() misses an old entry, writes sweep them out', async (t) => {
  const c = new FifoCache<string, string>(100, 1000)
  c.set('a', 'x', 0)
  c.set('b', 'y', 600)
  t.equal(c.get('a', 1000), 'x', 'at its age limit: still there')
  t.equal(c.get('a', 1001), undefined, 'past it: gone')
  t.equal(c.peek('b'), 'y')
  c.set('c', 'z', 1700) // b (600) is past its time
  t.equal(c.size, 1, 'swept')
})

t.test('a key written again and again: size and queue stay bounded, the live entries are kept', async (t) => {
  const c = new FifoCache<number, number>(1000)
  for (let i = 0; i < 1000; i++) c.set(i, i)
  for (let n = 0; n < 200_000; n++) c.set(n % 10, n) // keys 0..9 rewritten, 10..999 never
  t.equal(c.size, 1000)
  t.equal(c.peek(500), 500, 'an entry never rewritten is kept')
  t.equal(c.peek(3), 199_993, 'a rewritten entry has its last value')
  const internal = c as unknown as { queueKeys: unknown[]; head: number }
  t.ok(internal.queueKeys.length - internal.head <= 2 * 1000 + 1024 + 1, `queue bounded (${internal.queueKeys.length - internal.head} slots)`)
  c.set(5000, 1)
  t.equal(c.peek(10), undefined, 'the oldest live write (key 10) is the one evicted, not a rewritten key')
  t.equal(c.peek(3), 199_993)
})

t.test('onEvict hears of entries dropped for size or age, not of deletes', async (t) => {
  const dropped: string[] = []
  const c = new FifoCache<string, number>(2, 100, (k, v) => dropped.push(`${k}=${v}`))
  c.set('a', 1, 0)
  c.set('b', 2, 0)
  c.delete('b')
  c.set('c', 3, 10)
  c.set('d', 4, 20) // a goes for size
  c.set('e', 5, 150) // c (10) and d (20) go for age
  t.same(dropped, ['a=1', 'c=3', 'd=4'])
})

t.test('Lru: forgets the least recently set entry', async (t) => {
  const l = new Lru<string, number>(2)
  l.set('a', 1)
  l.set('b', 2)
  l.set('a', 3)
  l.set('c', 4)
  t.equal(l.get('b'), undefined)
  t.equal(l.get('a'), 3)
  t.equal(l.get('c'), 4)
  l.delete('a')
  t.equal(l.get('a'), undefined)
})

t.test('replace: a live value changes in place, keeping its age and its place in the eviction order', async (t) => {
  const c = new FifoCache<string, string | null>(2, 1000)
  c.set('a', null, 0)
  c.set('b', 'x', 10)
  t.equal(c.replace('a', 'answer'), true)
  t.equal(c.replace('zz', 'y'), false, 'nothing to replace')
  t.equal(c.peek('zz'), undefined, 'and nothing written')
  t.equal(c.get('a', 500), 'answer')
  c.set('c', 'y', 20)
  t.equal(c.peek('a'), undefined, 'a was replaced, not rewritten: still the oldest write, it went first')
  t.same([c.size, c.peek('b'), c.peek('c')], [2, 'x', 'y'])
  const d = new FifoCache<string, string | null>(10, 1000)
  d.set('k', null, 0)
  d.replace('k', 'v')
  t.equal(d.get('k', 1000), 'v')
  t.equal(d.get('k', 1001), undefined, 'its age counts from its set()')
})

t.test('refresh: the same value among the newest writes stays where it is; otherwise it is set again', async (t) => {
  const c = new FifoCache<string, object>(3)
  const s1 = { id: 1 }
  const s2 = { id: 2 }
  c.set('a', s1)
  c.set('b', s2)
  c.refresh('a', s1, 10) // a among the last 10 writes: left as the oldest
  c.set('c', {})
  c.set('d', {})
  t.equal(c.peek('a'), undefined, 'a was not rewritten, so it went first')
  t.equal(c.peek('b'), s2)
  c.refresh('b', s2, 2) // b is 3 writes back: rewritten as the newest
  c.set('e', {})
  c.set('f', {})
  t.equal(c.peek('b'), s2, 'b outlives c and d')
  t.same([c.peek('c'), c.peek('d')], [undefined, undefined])
  const other = { id: 3 }
  c.refresh('b', other, 100) // another value: always written
  t.equal(c.peek('b'), other)
})
