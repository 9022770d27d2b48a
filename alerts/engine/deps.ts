/**
 * What the engine's modules are handed. Each module is a factory taking only the parts it uses
 * (a `Pick` of `EngineBase` plus its collaborators), so its interface says what it can touch.
 * Nothing here holds state: the composition root (../engine.ts) owns the database handle and the
 * running flag, and passes accessors for them.
 */
import type { Logger } from '../../domain/logger.ts'
import type { Registry } from '../../registry/registry.ts'
import type { SqliteDatabase } from '../../registry/sqlite.ts'
import type { AlertsConfig } from '../config.ts'
import type { Statements } from '../store.ts'
import type { Clock } from '../types.ts'

/** The actor of every change the engine makes by itself. */
export const SYSTEM = 'system'

export type OpenStore = { db: SqliteDatabase; st: Statements }

export type EngineBase = {
  config: AlertsConfig
  registry: Registry
  clock: Clock
  log: Logger
  /** The alerts database while the engine runs; throws DomainError NOT_STARTED otherwise. */
  store: () => OpenStore
  /** False before start() and from the first line of stop(): timers and scans then do nothing. */
  isRunning: () => boolean
}

/** Runs a rule outside a reading's own try (a timer): a failure is counted, logged and goes no further. */
export type Guard = (deviceId: string, fn: () => void) => void
