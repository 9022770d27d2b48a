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

export function createRuleState(deps: Pick<EngineBase, 'store' | 'clock'>) {
  const { store, clock } = deps
  return {
    /** Writes a device's state of a rule; null deletes it (the condition ended). */
    save(deviceId: string, rule: RuleName, state: Record<string, unknown> | null): void {
      const { st } = store()
      if (state === null) st.deleteRuleState.run(deviceId, rule)
      else st.upsertRuleState.run(deviceId, rule, JSON.stringify(state), clock.now())
    },
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
      const rows = store().db.prepare('SELECT * FROM rule_state WHERE rule = ?').all(rule) as Array<
        Record<string, unknown>
      >
      return rows.map((row) => ({ deviceId: String(row.device_id), value: parseState(row.state) }))
    },
  }
}
