// The OCS's own garbage-collection pauses during a bench run, from V8's `--trace-gc-nvp` lines on
// its output: beside the Diameter bench's p99 they say how much of the tail was the event loop
// stopped for a collection (a scavenge every ~30–70 ms at these rates, a mark-compact every
// ~40 s; BENCHMARKS.md). One line per collection, e.g.
//   [4242:0x2b655ca0]    24907 ms: pause=2.3 mutator=31.0 gc=s … promoted=591104 …
// The time is ms since the process's V8 isolate started; a child forked with the same flags (the
// CDR worker) prints its own lines under its own pid, which are left out. V8 writes a line in two
// writes (the "[pid] N ms: " prefix, then the rest), so a child writing at the same instant can cut
// one in two: that collection is then not counted (rare: both must write within the same few
// microseconds), and neither piece is taken for ordinary output.

export type GcKind = 'scavenge' | 'mark-compact' | 'other'

export interface GcEvent {
  /** ms since the isolate started */
  at: number
  kind: GcKind
  /** ms the main thread stood still */
  pause: number
  /** bytes moved to the old generation */
  promoted: number
}

const LINE = /^\[(\d+):0x[0-9a-f]+\]\s+(\d+) ms: pause=([\d.]+) .*?\bgc=(\w+)\b/
const PROMOTED = /\bpromoted=(\d+)\b/
/** Any trace line, of any process, or a piece of one cut by another process's write. */
const GC_PIECE = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: |\bpause=[\d.]+ .*\bgc=\w+/

/** One trace line of process `pid` as an event; undefined for anything else. */
export function parseGcLine(line: string, pid: number): GcEvent | undefined {
  const m = LINE.exec(line)
  if (m === null || Number(m[1]) !== pid) return undefined
  const kind: GcKind = m[4] === 's' ? 'scavenge' : m[4] === 'mc' ? 'mark-compact' : 'other'
  return { at: Number(m[2]), kind, pause: Number(m[3]), promoted: Number(PROMOTED.exec(line)?.[1] ?? 0) }
}

/**
 * Collects the events of one process from its output as it arrives (a pipe read may end inside a
 * line: the rest of it comes with the next chunk). push() returns the chunk's other lines, for the
 * caller's own log.
 */
export class GcTrace {
  readonly events: GcEvent[] = []
  private partial = ''

  constructor(private readonly pid: number) {}

  push(chunk: string): string {
    const lines = (this.partial + chunk).split('\n')
    this.partial = lines.pop() ?? ''
    const rest: string[] = []
    for (const line of lines) {
      const e = parseGcLine(line, this.pid)
      if (e !== undefined) this.events.push(e)
      else if (!GC_PIECE.test(line)) rest.push(line)
    }
    return rest.length > 0 ? `${rest.join('\n')}\n` : ''
  }
}

export interface GcStats {
  scavenges: number
  scavengeP50: number
  scavengeMax: number
  markCompacts: number
  markCompactMax: number
  /** share of the window the main thread stood still, in % */
  pausedPct: number
}

/** The collections that ended within [from, to] (ms since the isolate started). */
export function gcStats(events: readonly GcEvent[], from: number, to: number): GcStats {
  const inside = events.filter((e) => e.at >= from && e.at <= to)
  const scav = inside.filter((e) => e.kind === 'scavenge').map((e) => e.pause).sort((a, b) => a - b)
  const mc = inside.filter((e) => e.kind === 'mark-compact').map((e) => e.pause)
  const paused = inside.reduce((sum, e) => sum + e.pause, 0)
  return {
    scavenges: scav.length,
    scavengeP50: scav.length > 0 ? scav[Math.floor((scav.length - 1) / 2)] : 0,
    scavengeMax: scav.length > 0 ? scav[scav.length - 1] : 0,
    markCompacts: mc.length,
    markCompactMax: mc.length > 0 ? Math.max(...mc) : 0,
    pausedPct: to > from ? (100 * paused) / (to - from) : 0,
  }
}

/** "71 scavenges, p50 1.8 · max 3.4 ms; 1 mark-compact, max 11.8 ms; paused 2.6 %" */
export function gcText(s: GcStats | undefined): string {
  if (s === undefined) return '–'
  const mc = s.markCompacts === 0 ? 'no mark-compact' : `${s.markCompacts} mark-compact${s.markCompacts > 1 ? 's' : ''}, max ${s.markCompactMax.toFixed(1)} ms`
  return `${s.scavenges} scavenges, p50 ${s.scavengeP50.toFixed(1)} · max ${s.scavengeMax.toFixed(1)} ms; ${mc}; paused ${s.pausedPct.toFixed(1)} %`
}
