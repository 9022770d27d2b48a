/**
 * Offline detection: when each device was last heard from, and the `offline` alert for a device in
 * service silent for OFFLINE_AFTER_PERIODS of its own reporting periods (DOMAIN.md: 3 periods).
 *
 * Last-seen times live in memory on the hot path and reach SQLite (`device_seen`) in batches, at most
 * every LAST_SEEN_PERSIST_S per device, and all of them at stop. Silence is counted from the later of
 * the last message and the engine's start, so a restart does not call every device offline before it
 * had a chance to report; a device never heard from is never called offline.
 */
import type { Device } from '../../domain/registry-types.ts'
import type { Row } from '../store.ts'
import type { TimerHandle } from '../types.ts'
import type { AlertBook } from './alert-book.ts'
import type { EngineBase } from './deps.ts'
import type { Lifecycle } from './lifecycle.ts'

export type Offline = ReturnType<typeof createOffline>

export function createOffline(
  deps: Pick<EngineBase, 'config' | 'registry' | 'clock' | 'log' | 'store' | 'isRunning'> & {
    book: Pick<AlertBook, 'activeOf'>
    lifecycle: Pick<Lifecycle, 'raise' | 'autoResolve'>
  },
) {
  const { config, registry, clock, log, store, book, lifecycle } = deps
  /** Per device: the last message's receipt time, and the one SQLite holds. */
  const seen = new Map<string, { lastSeenAt: number; persistedSeenAt: number | null }>()
  let startedAt = 0
  let timer: TimerHandle | null = null

  function limitMs(device: Device): number {
    return config.OFFLINE_AFTER_PERIODS * device.statusPeriodS * 1000
  }

  function flush(all: boolean): void {
    const { db, st } = store()
    const now = clock.now()
    const minGap = config.LAST_SEEN_PERSIST_S * 1000
    const dirty: Array<[string, { lastSeenAt: number; persistedSeenAt: number | null }]> = []
    for (const entry of seen) {
      const state = entry[1]
      if (state.lastSeenAt === state.persistedSeenAt) continue
      if (all || state.persistedSeenAt === null || now - state.persistedSeenAt >= minGap) dirty.push(entry)
    }
    if (dirty.length === 0) return
    db.transaction(() => {
      for (const [deviceId, state] of dirty) {
        st.upsertSeen.run(deviceId, state.lastSeenAt)
        state.persistedSeenAt = state.lastSeenAt
      }
    })()
  }

  function check(): void {
    if (!deps.isRunning()) return
    try {
      flush(false)
      const now = clock.now()
      for (const [deviceId, state] of seen) {
        if (book.activeOf(deviceId, 'offline')) continue
        const since = Math.max(state.lastSeenAt, startedAt)
        // Cheap bound first (every period is at least 1 s), before the registry is asked.
        if (now - since <= config.OFFLINE_AFTER_PERIODS * 1000) continue
        const ctx = registry.getDeviceContext(deviceId)
        if (!ctx?.device.inService) continue
        if (now - since <= limitMs(ctx.device)) continue
        lifecycle.raise(ctx, 'offline', now, {
          isRepeat: false,
          details: {
            lastSeenAt: state.lastSeenAt,
            statusPeriodS: ctx.device.statusPeriodS,
            periods: config.OFFLINE_AFTER_PERIODS,
          },
        })
      }
    } catch (err) {
      log.error({ err }, 'offline check failed')
    } finally {
      if (deps.isRunning()) timer = clock.setTimeout(check, config.OFFLINE_CHECK_INTERVAL_S * 1000)
    }
  }

  return {
    /** A message from the device (hot path): remembers when, and ends its offline alert. */
    seen(deviceId: string, at: number): void {
      const state = seen.get(deviceId)
      if (!state) seen.set(deviceId, { lastSeenAt: at, persistedSeenAt: null })
      else if (at > state.lastSeenAt) state.lastSeenAt = at
      if (book.activeOf(deviceId, 'offline'))
        lifecycle.autoResolve(deviceId, 'offline', at, 'device reporting again')
    },
    lastSeenOf(deviceId: string): number | null {
      return seen.get(deviceId)?.lastSeenAt ?? null
    },
    /** Heard from within its offline limit. */
    isOnline(device: Device): boolean {
      const lastSeenAt = seen.get(device.id)?.lastSeenAt
      return lastSeenAt !== undefined && clock.now() - lastSeenAt <= limitMs(device)
    },
    /** At start: last-seen times from SQLite. */
    restore(): void {
      for (const row of store().st.allSeen.all() as Row[]) {
        const lastSeenAt = Number(row.last_seen_at)
        seen.set(String(row.device_id), { lastSeenAt, persistedSeenAt: lastSeenAt })
      }
    },
    /** Counts silence from `engineStartedAt` at the earliest; checks every OFFLINE_CHECK_INTERVAL_S. */
    start(engineStartedAt: number): void {
      startedAt = engineStartedAt
      timer = clock.setTimeout(check, config.OFFLINE_CHECK_INTERVAL_S * 1000)
    },
    stop(): void {
      if (timer) clock.clearTimeout(timer)
      timer = null
    },
    /** Writes every last-seen time not yet in SQLite (at stop). */
    flushAll(): void {
      flush(true)
    },
    deviceCount(): number {
      return seen.size
    },
    clear(): void {
      seen.clear()
    },
  }
}
