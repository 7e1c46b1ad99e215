import type { Logger } from './logger.js'

/**
 * SIGTERM/SIGINT run `stop` once; the process exits 0 when it resolves, 1 when it fails or takes
 * longer than `limitMs` (an operator's stop must never hang).
 */
export function exitOnSignals(log: Logger, stop: () => Promise<void>, limitMs = 5000): void {
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    const force = setTimeout(() => {
      log.error(`stop took longer than ${limitMs / 1000} s; exiting`)
      process.exit(1)
    }, limitMs)
    force.unref()
    stop().then(
      () => {
        log.info('stopped')
        process.exit(0)
      },
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
}
