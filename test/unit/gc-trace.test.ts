// The Diameter bench's garbage-collection column (scripts/gc-trace.ts), read from the trace lines a
// real Node process writes with --trace-gc-nvp: its own collections, not those of a child writing
// to the same output, whatever way the output is cut into chunks.
import t from 'tap'
import { spawn } from 'node:child_process'
import { GcTrace, gcStats, gcText, parseGcLine, type GcEvent } from '../../scripts/gc-trace.js'

// Plain node children: the test runner's loader options (NODE_OPTIONS) would cost each a second of start-up.
const { NODE_OPTIONS: _loader, ...plainEnv } = process.env

/** Allocates enough short-lived objects for a few scavenges. */
const churn = 'let a = []; for (let i = 0; i < 3e6; i++) { a.push({ i }); if (a.length > 1e5) a = [] }'

t.test('a process with --trace-gc-nvp: its scavenges and a full collection, not its child\'s, its other output kept', async (t) => {
  // The child churns with the same flag and writes to the same stdout; once it has exited (V8 writes
  // a line in two writes, so two processes at once could cut one: gc-trace.ts), the parent churns,
  // forces a full collection and says hello.
  const childCode = `${churn}; console.log('child done')`
  const parentCode = `require('child_process').spawn(process.execPath, ['--trace-gc-nvp', '-e', ${JSON.stringify(childCode)}], { stdio: 'inherit' }).on('exit', () => { ${churn}; gc(); console.log('hello') })`
  const p = spawn(process.execPath, ['--trace-gc-nvp', '--expose-gc', '-e', parentCode], { stdio: ['ignore', 'pipe', 'inherit'], env: plainEnv })
  const trace = new GcTrace(p.pid!)
  let other = ''
  let raw = ''
  p.stdout!.on('data', (d: Buffer) => {
    raw += d.toString()
    other += trace.push(d.toString())
  })
  await new Promise((r) => p.once('close', r))

  const allLines = raw.split('\n').filter((l) => / gc=/.test(l))
  const ownLines = allLines.filter((l) => l.startsWith(`[${p.pid}:`))
  t.ok(ownLines.length >= 3 && allLines.length > ownLines.length, `the parent's ${ownLines.length} of ${allLines.length} trace lines`)
  t.equal(trace.events.length, ownLines.length, 'one event per line of the parent, none of the child')
  const scavenges = trace.events.filter((e) => e.kind === 'scavenge')
  t.ok(scavenges.length >= 2, `${scavenges.length} scavenges`)
  t.ok(trace.events.some((e) => e.kind === 'mark-compact'), 'gc() is a mark-compact')
  t.ok(trace.events.every((e) => e.pause >= 0 && e.at >= 0 && Number.isInteger(e.promoted)), 'times, pauses, promoted bytes read')
  t.ok(scavenges.some((e) => e.promoted > 0), 'some objects promoted')
  t.match(other, /hello/, 'the parent\'s own output passed on')
  t.match(other, /child done/, 'the child\'s ordinary output passed on')
  t.notMatch(other, / gc=/, 'no trace line, of either process, passed on')
})

t.test('a line cut across chunks is read once it is whole', async (t) => {
  const line =
    '[4242:0x2b655ca0]    24907 ms: pause=2.3 mutator=31.0 gc=s reduce_memory=0 scavenge=2.1 allocated=12000000 promoted=591104 new_space_survived=260096'
  const trace = new GcTrace(4242)
  let other = ''
  const text = `starting\n${line}\n${line.replace('24907', '24950').replace('gc=s', 'gc=mc').replace('pause=2.3', 'pause=11.8')}\nready\n`
  for (let i = 0; i < text.length; i += 7) other += trace.push(text.slice(i, i + 7))
  t.same(trace.events, [
    { at: 24907, kind: 'scavenge', pause: 2.3, promoted: 591104 },
    { at: 24950, kind: 'mark-compact', pause: 11.8, promoted: 591104 },
  ])
  t.equal(other, 'starting\nready\n')
  t.equal(parseGcLine(line, 4243), undefined, 'another pid')
  t.equal(parseGcLine('[4242:0x2b655ca0]    24907 ms: Scavenge 97.4 (118.8) -> 85.5 (119.2) MB', 4242), undefined, 'a --trace-gc line is not this format')
  // Another process's prefix written between the two writes of one line: neither piece is output,
  // and that collection is not counted.
  const cut = new GcTrace(4242)
  const out = cut.push(`[4242:0x2b655ca0]    100 ms: [4243:0x11111111]    90 ms: pause=1.0 mutator=2.0 gc=s promoted=0\npause=2.0 mutator=3.0 gc=s promoted=0\nok\n`)
  t.equal(out, 'ok\n')
  t.same(cut.events, [])
})

t.test('gcStats: the collections that ended in the window, and the share of it paused', async (t) => {
  const ev = (at: number, kind: GcEvent['kind'], pause: number): GcEvent => ({ at, kind, pause, promoted: 0 })
  const events = [ev(900, 'scavenge', 5), ev(1000, 'scavenge', 1), ev(1100, 'scavenge', 3), ev(1200, 'mark-compact', 10), ev(1300, 'scavenge', 2), ev(2100, 'scavenge', 7)]
  const s = gcStats(events, 1000, 2000)
  t.same(s, { scavenges: 3, scavengeP50: 2, scavengeMax: 3, markCompacts: 1, markCompactMax: 10, pausedPct: 1.6 })
  t.equal(gcText(s), '3 scavenges, p50 2.0 · max 3.0 ms; 1 mark-compact, max 10.0 ms; paused 1.6 %')
  t.equal(gcText(gcStats(events, 3000, 4000)), '0 scavenges, p50 0.0 · max 0.0 ms; no mark-compact; paused 0.0 %')
  t.equal(gcText(undefined), '–')
})
