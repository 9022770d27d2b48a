/**
 * Rule state that survives a restart, one JSON row per device and rule in `rule_state`: when a duration
 * condition started (so the 30 s of "trapped" continue from the real start), the last counters seen,
 * an open maintenance session, the event redelivery window, the maintenance baseline. Each rule module
 * owns its own rows and says how to read them back; a row that does not parse reads as `{}`, so a
 * damaged row costs one condition's history, never the start of the engine.
 */
import type { EngineBase } from './deps.ts'

/** The `rule` column: stable names, they are in existing databases. */
export const RULE = {
  trapped: 'trapped',
  outsideDoorZone: 'outside_door_zone',
  scaleCounters: 'scale_counters',
  maintenanceSession: 'maintenance_session',
  eventSeqs: 'event_seqs',
  /** The registry's maintenance date before the log took over (compliance-query.ts). */
  maintenanceBaseline: 'maintenance_baseline',
} as const
export type RuleName = (typeof RULE)[keyof typeof RULE]

/** Reads one stored state back into a module's per-device memory. */
export type Restorer = (deviceId: string, value: Record<string, unknown>) => void

/** A finite number, else null: stored state is read defensively. */
export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

export function parseState(text: unknown): Record<string, unknown> {
  if (typeof text !== 'string') return {}
  try {
    const value: unknown = JSON.parse(text)
    return isRecord(value) ? value : {}
  } catch {
    return {}
  }
}

export type RuleState = ReturnType<typeof createRuleState>

type PendingRow = { deviceId: string; rule: RuleName; state: Record<string, unknown> | null }

export function createRuleState(deps: Pick<EngineBase, 'store' | 'clock' | 'log'>) {
  const { store, clock, log } = deps
  /**
   * Writes promised by `saveSoon`, one per device and rule (the latest wins). They go to SQLite in one
   * transaction: inside the transaction of the first durable write that follows (an alert raised by
   * the same event, another rule's state), else at the end of this event-loop turn.
   */
  const pending = new Map<string, PendingRow>()
  let flushQueued = false

  function write(deviceId: string, rule: RuleName, state: Record<string, unknown> | null): void {
    const { st } = store()
    if (state === null) st.deleteRuleState.run(deviceId, rule)
    else st.upsertRuleState.run(deviceId, rule, JSON.stringify(state), clock.now())
  }

  /** Every pending row, in one transaction (a savepoint inside the caller's, when it has one). */
  function flushPending(): void {
    if (pending.size === 0) return
    store().db.transaction(() => {
      for (const row of pending.values()) write(row.deviceId, row.rule, row.state)
    })()
    // Only once written: a failed flush leaves them pending for the next one.
    pending.clear()
  }

  function flushQueuedRows(): void {
    flushQueued = false
    try {
      flushPending()
    } catch (err) {
      // SQLite failed: the rows stay pending, for the next durable write or the stop.
      log.error({ err, rows: pending.size }, 'rule state not written; kept for the next write')
    }
  }

  return {
    /** Writes a device's state of a rule; null deletes it (the condition ended). Pending rows go first. */
    save(deviceId: string, rule: RuleName, state: Record<string, unknown> | null): void {
      store().db.transaction(() => {
        flushPending()
        write(deviceId, rule, state)
      })()
    },
    /**
     * Like `save`, for state written on a busy path (an event's redelivery window, one commit per event
     * otherwise): it reaches SQLite with the first durable write after it, in that write's transaction,
     * or at the end of this event-loop turn, together with every other pending row.
     */
    saveSoon(deviceId: string, rule: RuleName, state: Record<string, unknown> | null): void {
      pending.set(`${deviceId}|${rule}`, { deviceId, rule, state })
      if (flushQueued) return
      flushQueued = true
      setImmediate(flushQueuedRows)
    },
    /** Writes what `saveSoon` left pending; call inside the transaction of a durable write. */
    flushPending,
    /** Writes it only when the device has none for this rule yet (a baseline is set once). */
    saveIfAbsent(deviceId: string, rule: RuleName, state: Record<string, unknown>): void {
      store().st.insertRuleStateIfAbsent.run(deviceId, rule, JSON.stringify(state), clock.now())
    },
    /** At start: hands every stored row to the restorer of its rule (rows of other rules are skipped). */
    restore(restorers: Partial<Record<string, Restorer>>): void {
      for (const row of store().st.allRuleState.all() as Array<Record<string, unknown>>) {
        restorers[String(row.rule)]?.(String(row.device_id), parseState(row.state))
      }
    },
    /** Every device's state of one rule. */
    ofRule(rule: RuleName): Array<{ deviceId: string; value: Record<string, unknown> }> {
      flushPending()
      const rows = store().db.prepare('SELECT * FROM rule_state WHERE rule = ?').all(rule) as Array<
        Record<string, unknown>
      >
      return rows.map((row) => ({ deviceId: String(row.device_id), value: parseState(row.state) }))
    },
    /** Pending rows are dropped (a stop flushes them first). */
    clear(): void {
      pending.clear()
    },
  }
}
