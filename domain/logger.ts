import pino, { type Logger } from 'pino'

export type { Logger }

/** Keys whose values must never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'token',
  '*.password',
  '*.secret',
  '*.token',
  'headers.authorization',
  'req.headers.authorization',
  'config.INFLUX_TOKEN',
  'config.ADMIN_TOKEN',
]

/** The one root logger of a process; services take `logger.child({ component })`. */
export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination,
  )
}

/** A logger that writes nothing, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
