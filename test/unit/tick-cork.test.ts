import t from 'tap'
import { Writable } from 'node:stream'
import { tickCork } from '../../src/lib/tick-cork.js'

/** A stream that records how its writes reached the "socket": one entry per writev/write. */
function recorder(): { stream: Writable; batches: string[][] } {
  const batches: string[][] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      batches.push([chunk.toString()])
      cb()
    },
    writev(chunks, cb) {
      batches.push(chunks.map((c) => (c.chunk as Buffer).toString()))
      cb()
    },
  })
  return { stream, batches }
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r))

t.test('writes of one tick leave together; the next tick starts a new write', async (t) => {
  const { stream, batches } = recorder()
  const cork = tickCork(stream)
  for (const s of ['a', 'b', 'c']) {
    cork()
    stream.write(s)
  }
  await new Promise((r) => process.nextTick(r))
  cork()
  stream.write('d')
  await immediate()
  t.same(batches, [['a', 'b', 'c'], ['d']])
})

t.test('hold: writes of several ticks leave together at the check phase, at most maxHeld a write', async (t) => {
  const { stream, batches } = recorder()
  const cork = tickCork(stream, 3)
  // As RADIUS datagrams arrive: one libuv callback (and tick) each, all in one poll phase.
  await new Promise<void>((done) => {
    setTimeout(() => {
      let n = 0
      const datagram = (): void => {
        cork.hold()
        cork()
        stream.write(String(++n))
        if (n < 7) process.nextTick(datagram)
        else done()
      }
      datagram()
    }, 0)
  })
  t.same(batches, [['1', '2', '3'], ['4', '5', '6']], 'only full batches have left before the check phase')
  await immediate()
  t.same(batches, [['1', '2', '3'], ['4', '5', '6'], ['7']])
  // The hold ended with the iteration: the next write goes at the end of its tick again.
  cork()
  stream.write('8')
  await new Promise((r) => process.nextTick(r))
  t.same(batches.at(-1), ['8'])
})

t.test('a hold begun after the tick corked still keeps the tick open until the check phase', async (t) => {
  const { stream, batches } = recorder()
  const cork = tickCork(stream)
  cork()
  stream.write('x')
  cork.hold()
  await new Promise((r) => process.nextTick(r))
  cork()
  stream.write('y')
  t.same(batches, [])
  await immediate()
  t.same(batches, [['x', 'y']])
})
