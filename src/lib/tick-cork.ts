import type { Writable } from 'node:stream'

/**
 * Returns a function to call before each write to `stream`: the first call in an event-loop tick
 * corks the stream and schedules the uncork for the next tick, so everything written in one tick
 * (the answers of one Redis reply batch, the commands of one chunk of pipelined requests) leaves
 * in one writev instead of one syscall per message.
 */
export function tickCork(stream: Writable): () => void {
  let corked = false
  const uncork = (): void => {
    corked = false
    stream.uncork()
  }
  return () => {
    if (corked) return
    corked = true
    stream.cork()
    process.nextTick(uncork)
  }
}
