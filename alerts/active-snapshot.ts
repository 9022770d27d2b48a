/**
 * Every ALERTS_SNAPSHOT_INTERVAL_S, the active alerts grouped by type, severity, device kind, site,
 * tenant and category go to InfluxDB (measurement `alerts_active`), so Grafana charts what is open now
 * rather than only the transitions. A group that had alerts in the previous snapshot and has none now
 * gets one zero point, so a graph falls to zero instead of holding its last value.
 */
import {
  ACTIVE_ALERTS_GROUPS_PER_MESSAGE,
  type ActiveAlertGroup,
  type ActiveAlertsSnapshot,
} from '../domain/alert-change.ts'
import type { Logger } from '../domain/logger.ts'
import type { AlertEngine, Clock, TimerHandle } from './types.ts'

export type ActiveAlertsSink = (snapshot: ActiveAlertsSnapshot) => Promise<void>

const groupKey = (g: ActiveAlertGroup) =>
  [g.type, g.severity, g.kind, g.siteId ?? '', g.tenantId ?? '', g.siteCategory ?? ''].join('|')

/** The snapshot to write now, given the previous one's groups; pure, for tests. */
export function nextSnapshot(
  groups: readonly ActiveAlertGroup[],
  previous: ReadonlyMap<string, ActiveAlertGroup>,
): { groups: ActiveAlertGroup[]; current: Map<string, ActiveAlertGroup> } {
  const current = new Map(groups.map((g) => [groupKey(g), g]))
  const out = [...groups]
  for (const [key, g] of previous) {
    if (!current.has(key)) out.push({ ...g, active: 0, unacknowledged: 0 })
  }
  return { groups: out, current }
}

export function createActiveAlertsSnapshotter(deps: {
  engine: Pick<AlertEngine, 'activeAlertCounts'>
  intervalS: number
  clock: Clock
  logger: Logger
  /** Where a snapshot goes: ingest in one process, the MQTT topic alerts/active split. */
  sink: ActiveAlertsSink
}) {
  const log = deps.logger.child({ component: 'alerts-snapshot' })
  let previous = new Map<string, ActiveAlertGroup>()
  let timer: TimerHandle | null = null
  let running: Promise<void> | null = null

  async function snapshot(): Promise<void> {
    const at = deps.clock.now()
    const next = nextSnapshot(deps.engine.activeAlertCounts(), previous)
    // In parts, each small enough for one MQTT message when the sink publishes.
    for (let i = 0; i < next.groups.length; i += ACTIVE_ALERTS_GROUPS_PER_MESSAGE) {
      await deps.sink({ at, groups: next.groups.slice(i, i + ACTIVE_ALERTS_GROUPS_PER_MESSAGE) })
    }
    previous = next.current
  }

  function schedule(): void {
    timer = deps.clock.setTimeout(() => {
      running = snapshot()
        .catch((err: unknown) =>
          log.warn({ err }, 'active alerts snapshot not stored; next one in an interval'),
        )
        .finally(() => {
          running = null
          if (timer !== null) schedule()
        })
    }, deps.intervalS * 1000)
  }

  return {
    /** Writes one snapshot now (tests, and the first one after start). */
    snapshot,
    start(): void {
      if (deps.intervalS <= 0 || timer !== null) return
      schedule()
    },
    async stop(): Promise<void> {
      if (timer !== null) deps.clock.clearTimeout(timer)
      timer = null
      await running
    },
  }
}
