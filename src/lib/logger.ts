import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * One JSON logger for the process. Secrets never reach it: the redact paths cover
 * every field name that can carry one, and code logs ids, never credentials.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'ocs' },
      redact: {
        paths: ['secret', '*.secret', 'password', '*.password', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined,
  )
}
