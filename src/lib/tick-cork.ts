import type { Writable } from 'node:stream'

/** What to call before each write to a corked stream; `hold` stretches the current batch. */
export interface TickCork {
  (): void
  /**
   * Keeps what is written from now until the check phase of this event-loop iteration (setImmediate)
   * in one write, at most `maxHeld` writes at a time.
   */
  hold(): void
}

/**
 * Returns a function to call before each write to `stream`: the first call in an event-loop tick
 * corks the stream and schedules the uncork for the next tick, so everything written in one tick
 * (the answers of one Redis reply batch, the commands of one chunk of pipelined requests) leaves
 * in one writev instead of one syscall per message. Its `hold()` stretches that to the rest of the
 * poll phase, for writes that come one per libuv callback (RADIUS datagrams), `maxHeld` at most
 * in one writev so that the first of them does not wait for a long phase to end.
 */
export function tickCork(stream: Writable, maxHeld = 16): TickCork {
  let corked = false
  let held = false
  let writes = 0
  const flush = (): void => {
    if (!corked) return
    corked = false
    writes = 0
    stream.uncork()
  }
  const endOfTick = (): void => {
    if (!held) flush()
  }
  const endOfHold = (): void => {
    held = false
    flush()
  }
  const before = (): void => {
    if (corked) {
      if (held && ++writes >= maxHeld) {
        flush()
        corked = true
        stream.cork()
      }
      return
    }
    corked = true
    stream.cork()
    if (!held) process.nextTick(endOfTick)
  }
  before.hold = (): void => {
    if (held) return
    held = true
    setImmediate(endOfHold)
  }
  return before
}
