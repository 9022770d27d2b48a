import { describe, expect, it } from 'vitest'
import type { ActiveAlertsSnapshot } from '../domain/alert-change.ts'
import { silentLogger } from '../domain/logger.ts'
import { activeAlertsLines } from '../ingest/line-protocol.ts'
import { createActiveAlertsSnapshotter } from './active-snapshot.ts'
import { createFakeClock } from './clock.ts'
import type { ActiveAlertCount } from './types.ts'

const group = (over: Partial<ActiveAlertCount>): ActiveAlertCount => ({
  type: 'trapped',
  severity: 'critical',
  kind: 'elevator',
  siteId: 'st-1',
  tenantId: 'firm-1',
  siteCategory: 'market',
  active: 1,
  unacknowledged: 1,
  ...over,
})

describe('active alerts snapshots', () => {
  it('writes each group, then a zero point for a group that emptied, then nothing more for it', async () => {
    const clock = createFakeClock(1_790_000_000_000)
    let counts: ActiveAlertCount[] = [group({}), group({ type: 'offline', severity: 'warning', active: 2 })]
    const written: ActiveAlertsSnapshot[] = []
    const snapshotter = createActiveAlertsSnapshotter({
      engine: { activeAlertCounts: () => counts },
      intervalS: 60,
      clock,
      logger: silentLogger(),
      sink: async (s) => {
        written.push(s)
      },
    })
    snapshotter.start()
    clock.advance(60_000)
    await new Promise((r) => setImmediate(r))
    expect(written).toHaveLength(1)
    expect(written[0]?.groups.map((g) => [g.type, g.active])).toEqual([
      ['trapped', 1],
      ['offline', 2],
    ])

    counts = [group({ type: 'offline', severity: 'warning', active: 1, unacknowledged: 0 })]
    clock.advance(60_000)
    await new Promise((r) => setImmediate(r))
    expect(written[1]?.groups.map((g) => [g.type, g.active, g.unacknowledged])).toEqual([
      ['offline', 1, 0],
      ['trapped', 0, 0],
    ])

    clock.advance(60_000)
    await new Promise((r) => setImmediate(r))
    expect(written[2]?.groups.map((g) => g.type)).toEqual(['offline'])
    await snapshotter.stop()
    clock.advance(600_000)
    expect(written).toHaveLength(3)
  })

  it('splits a large snapshot into parts sharing one time', async () => {
    const clock = createFakeClock(1_790_000_000_000)
    const counts = Array.from({ length: 120 }, (_, i) => group({ siteId: `st-${i}` }))
    const written: ActiveAlertsSnapshot[] = []
    const snapshotter = createActiveAlertsSnapshotter({
      engine: { activeAlertCounts: () => counts },
      intervalS: 60,
      clock,
      logger: silentLogger(),
      sink: async (s) => {
        written.push(s)
      },
    })
    await snapshotter.snapshot()
    expect(written.map((s) => s.groups.length)).toEqual([50, 50, 20])
    expect(new Set(written.map((s) => s.at)).size).toBe(1)
  })

  it('encodes a point per group with low-cardinality tags and integer fields', () => {
    const lines = activeAlertsLines({ at: 1_790_000_000_000, groups: [group({ siteCategory: null })] })
    expect(lines).toEqual([
      'alerts_active,kind=elevator,severity=critical,site_id=st-1,tenant_id=firm-1,type=trapped active=1i,unacknowledged=1i 1790000000000000',
    ])
  })
})
