import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished } from 'vitest'
import { isDomainError } from '../domain/errors.ts'
import type { Reading } from '../domain/reading.ts'
import type { Registry } from '../registry/registry.ts'
import type { FakeClock } from './clock.ts'
import { alertsFile } from './store.ts'
import { createHarness, type Harness } from './test-support.ts'
import type { Alert, AlertType } from './types.ts'

async function harness(env: Record<string, string> = {}): Promise<Harness> {
  const h = await createHarness(env)
  onTestFinished(() => h.cleanup())
  return h
}

const SECOND = 1000
const MINUTE = 60 * SECOND

function activeOf(h: Harness, deviceId: string, type?: AlertType): Alert[] {
  return h.engine.listAlerts({ status: 'active', deviceId, type, limit: 100, offset: 0 }).items
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect(isDomainError(err, code), `expected ${code}, got ${String(err)}`).toBe(true)
    return
  }
  throw new Error(`expected DomainError ${code}, nothing was thrown`)
}

const TRAPPED_STATUS = {
  occupied: true,
  door: 'closed',
  direction: 'stopped',
  levelled: false,
  doorZone: false,
} as const

describe('event rules', () => {
  it('turns a trapped event into one critical alert dispatched to the firm; repeats count, redeliveries do not', async () => {
    const h = await harness()
    const event = h.elevatorEvent('el-1', 'trapped', { floor: 3, levelled: true })
    await h.engine.handle(event)
    const [alert] = activeOf(h, 'el-1', 'trapped')
    expect(alert?.severity).toBe('critical')
    expect(alert?.status).toBe('open')
    expect(alert?.title.zh).toBe('平层关人')
    expect(alert?.rescue?.dispatchedTo).toBe('firm-1')
    expect(alert?.rescue?.alarmAt).toBe(h.clock.now())
    expect(alert?.rescue?.arriveDeadline).toBe(h.clock.now() + 30 * MINUTE)
    expect(h.changes.map((c) => c.change.transition)).toEqual(['raised', 'dispatched'])
    expect(h.changes[0]?.change).toMatchObject({
      type: 'trapped',
      severity: 'critical',
      siteCategory: 'mall',
    })

    await h.engine.handle(event) // QoS 1 redelivery: same seq and ts
    h.clock.advance(10 * SECOND)
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped', { floor: 3 }))
    const all = h.engine.listAlerts({ type: 'trapped', limit: 10, offset: 0 })
    expect(all.total).toBe(1)
    expect(all.items[0]?.count).toBe(2)
    expect(all.items[0]?.lastSeenAt).toBe(h.clock.now())
  })

  it('gives each event code its severity and resolves on fault_cleared; informational events raise nothing', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'safety_circuit_open'))
    await h.engine.handle(h.elevatorEvent('el-1', 'door_close_fault'))
    await h.engine.handle(h.elevatorEvent('el-1', 'top_overtravel', { overtravelM: 0.3 }))
    await h.engine.handle(h.elevatorEvent('el-1', 'moving_with_door_open'))
    await h.engine.handle(h.elevatorEvent('el-1', 'overspeed', { speed: 1.5, ratedSpeed: 1, factor: 1.5 }))
    await h.engine.handle(h.elevatorEvent('el-1', 'mode_change', { mode: 'inspection' }))
    await h.engine.handle(h.elevatorEvent('el-1', 'maintenance_start'))
    const bySeverity = Object.fromEntries(activeOf(h, 'el-1').map((a) => [a.type, a.severity]))
    expect(bySeverity).toEqual({
      safety_circuit_open: 'critical',
      door_close_fault: 'warning',
      top_overtravel: 'critical',
      moving_with_door_open: 'critical',
      overspeed: 'critical',
    })
    await h.engine.handle(h.elevatorEvent('el-1', 'fault_cleared', { code: 'safety_circuit_open' }))
    expect(activeOf(h, 'el-1', 'safety_circuit_open')).toEqual([])
    const [resolved] = h.engine.listAlerts({ type: 'safety_circuit_open', limit: 1, offset: 0 }).items
    expect(resolved).toMatchObject({
      status: 'resolved',
      resolvedBy: 'system',
      resolutionNote: 'fault_cleared',
    })
  })

  it('grades an overspeed event by its factor: 1.3x is a warning, 1.45x critical', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'overspeed', { speed: 1.3, factor: 1.3 }))
    expect(activeOf(h, 'el-1', 'overspeed')[0]?.severity).toBe('warning')
    await h.engine.handle(h.elevatorEvent('el-1', 'overspeed', { speed: 1.45 }))
    const [alert] = activeOf(h, 'el-1', 'overspeed')
    expect(alert?.severity).toBe('critical')
    expect(alert?.count).toBe(2)
  })
})

describe('derived elevator rules', () => {
  it('derives trapped after 30 s of stopped, closed and occupied, on a timer, without the event', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    h.clock.advance(29 * SECOND)
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    h.clock.advance(999)
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
    h.clock.advance(1) // 30 s after the status that started it; no further status needed
    const [alert] = activeOf(h, 'el-1', 'trapped')
    expect(alert?.severity).toBe('critical')
    expect(alert?.title).toEqual({ zh: '非平层关人', en: 'Trapped between floors' })
    expect(alert?.details).toMatchObject({ source: 'status', betweenFloors: true })
    expect(alert?.openedAt).toBe(h.clock.now())

    // The controller's own event afterwards is the same occurrence: still one alert.
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    expect(h.engine.listAlerts({ type: 'trapped', limit: 10, offset: 0 }).total).toBe(1)

    // The rescuer opens the door at a landing: passengers released, alert resolved by itself.
    h.clock.advance(10 * MINUTE)
    await h.engine.handle(h.elevatorStatus('el-1', { occupied: true, door: 'open', doorZone: true }))
    const done = h.engine.getAlert(alert?.id ?? '')
    expect(done?.status).toBe('resolved')
    expect(done?.rescue?.releasedAt).toBe(h.clock.now())
  })

  it('keeps a trapped event from a controller without occupancy sensing until the door opens at a landing', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorStatus('el-1', { occupied: false }))
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    h.clock.advance(5 * SECOND)
    await h.engine.handle(h.elevatorStatus('el-1', { occupied: false }))
    await h.engine.handle(h.elevatorStatus('el-1', { occupied: false, door: 'open', doorZone: false }))
    expect(activeOf(h, 'el-1', 'trapped')).toHaveLength(1)
    await h.engine.handle(h.elevatorStatus('el-1', { occupied: false, door: 'open', doorZone: true }))
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
  })

  it('releases a trapped alert when the car goes from occupied to empty', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    expect(activeOf(h, 'el-1', 'trapped')).toHaveLength(1)
    await h.engine.handle(h.elevatorStatus('el-1', { ...TRAPPED_STATUS, occupied: false }))
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
  })

  it('honours a shortened TRAPPED_AFTER_S and does not derive trapped in inspection mode or when interrupted', async () => {
    const h = await harness({ TRAPPED_AFTER_S: '2' })
    await h.engine.handle(h.elevatorStatus('el-1', { ...TRAPPED_STATUS, mode: 'inspection' }))
    h.clock.advance(5 * SECOND)
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    h.clock.advance(1500)
    await h.engine.handle(h.elevatorStatus('el-1', { ...TRAPPED_STATUS, direction: 'up', speed: 0.5 }))
    h.clock.advance(1500)
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
    await h.engine.handle(h.elevatorStatus('el-1', { ...TRAPPED_STATUS, levelled: true, doorZone: true }))
    h.clock.advance(2000)
    expect(activeOf(h, 'el-1', 'trapped')[0]?.title.zh).toBe('平层关人')
  })

  it('raises stopped outside the door zone after 60 s and resolves it back in the zone', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorStatus('el-1', { doorZone: false, levelled: false }))
    h.clock.advance(59 * SECOND)
    expect(activeOf(h, 'el-1', 'stopped_outside_door_zone')).toEqual([])
    h.clock.advance(1 * SECOND)
    expect(activeOf(h, 'el-1', 'stopped_outside_door_zone')[0]?.severity).toBe('major')
    await h.engine.handle(h.elevatorStatus('el-1'))
    expect(activeOf(h, 'el-1', 'stopped_outside_door_zone')).toEqual([])
  })

  it('raises overspeed from status at 1.2x, upgrades past 1.4x, clears when back to normal', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorStatus('el-1', { direction: 'down', speed: 1.2 }))
    expect(activeOf(h, 'el-1', 'overspeed')).toEqual([])
    await h.engine.handle(h.elevatorStatus('el-1', { direction: 'down', speed: 1.25 }))
    await h.engine.handle(h.elevatorStatus('el-1', { direction: 'down', speed: 1.3 }))
    expect(activeOf(h, 'el-1', 'overspeed')[0]).toMatchObject({ severity: 'warning', count: 1 })
    await h.engine.handle(h.elevatorStatus('el-1', { direction: 'down', speed: 1.5 }))
    const [alert] = activeOf(h, 'el-1', 'overspeed')
    expect(alert?.severity).toBe('critical')
    expect(h.engine.getTransitions(alert?.id ?? '').map((t) => t.transition)).toEqual([
      'raised',
      'severity_raised',
    ])
    await h.engine.handle(h.elevatorStatus('el-1', { direction: 'down', speed: 1.0 }))
    expect(activeOf(h, 'el-1', 'overspeed')).toEqual([])
  })

  it('raises offline after 3 reporting periods of silence and resolves it on the next message', async () => {
    const h = await harness({ OFFLINE_CHECK_INTERVAL_S: '1' })
    await h.engine.handle(h.elevatorStatus('el-1'))
    h.clock.advance(15 * SECOND)
    expect(activeOf(h, 'el-1', 'offline')).toEqual([])
    h.clock.advance(1 * SECOND)
    expect(activeOf(h, 'el-1', 'offline')[0]?.severity).toBe('warning')
    expect(h.engine.deviceSnapshot('el-1')?.online).toBe(false)
    await h.engine.handle(h.elevatorStatus('el-1'))
    expect(activeOf(h, 'el-1', 'offline')).toEqual([])
    expect(h.engine.deviceSnapshot('el-1')).toMatchObject({ online: true, lastSeenAt: h.clock.now() })
  })
})

describe('scale rules', () => {
  it('raises zero offset beyond 0.5e and clears it within', async () => {
    const h = await harness()
    await h.engine.handle(h.scaleStatus('sc-1', { zeroOffsetE: 0.5 }))
    expect(activeOf(h, 'sc-1', 'zero_offset')).toEqual([])
    await h.engine.handle(h.scaleStatus('sc-1', { zeroOffsetE: -0.6 }))
    expect(activeOf(h, 'sc-1', 'zero_offset')[0]?.details).toMatchObject({ zeroOffsetE: -0.6 })
    await h.engine.handle(h.scaleStatus('sc-1', { zeroOffsetE: 0.1 }))
    expect(activeOf(h, 'sc-1', 'zero_offset')).toEqual([])
  })

  it('treats counter changes and tamper events as tamper only outside an open verification', async () => {
    const h = await harness()
    await h.engine.handle(h.scaleStatus('sc-1'))
    h.certification.openVerification('sc-1', { verifier: 'Wuhan metrology institute' })
    await h.engine.handle(h.scaleEvent('sc-1', 'case_opened'))
    await h.engine.handle(h.scaleEvent('sc-1', 'calibration_changed'))
    await h.engine.handle(h.scaleStatus('sc-1', { calibrationCounter: 4 }))
    expect(activeOf(h, 'sc-1')).toEqual([])
    h.certification.closeVerification('sc-1', { verifiedOn: '2026-03-10', passed: true })

    h.clock.advance(MINUTE)
    await h.engine.handle(h.scaleStatus('sc-1', { calibrationCounter: 4, paramCounter: 8 }))
    await h.engine.handle(h.scaleEvent('sc-1', 'seal_broken'))
    await h.engine.handle(h.scaleEvent('sc-1', 'zero')) // an operation, not an alert
    const active = Object.fromEntries(activeOf(h, 'sc-1').map((a) => [a.type, a]))
    expect(Object.keys(active).sort()).toEqual(['counter_changed', 'seal_broken'])
    expect(active.counter_changed?.details).toMatchObject({ paramCounter: { from: 7, to: 8 } })
    expect(active.seal_broken?.severity).toBe('major')

    // A new passed verification resolves them.
    h.clock.advance(MINUTE)
    h.certification.recordVerification('sc-1', {
      verifiedOn: '2026-03-10',
      passed: true,
      verifier: 'institute',
    })
    await Promise.resolve()
    expect(activeOf(h, 'sc-1')).toEqual([])
    const [resolved] = h.engine.listAlerts({
      deviceId: 'sc-1',
      type: 'seal_broken',
      limit: 1,
      offset: 0,
    }).items
    expect(resolved?.resolutionNote).toBe('passed verification')
  })
})

describe('lifecycle', () => {
  it('moves open -> acknowledged -> resolved with a note, records every transition append-only', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'door_open_fault'))
    const [alert] = activeOf(h, 'el-1', 'door_open_fault')
    const id = alert?.id ?? ''
    h.clock.advance(MINUTE)
    const acked = h.engine.act(id, 'acknowledge', { actor: 'officer-wang' })
    expect(acked).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: 'officer-wang',
      acknowledgedAt: h.clock.now(),
    })
    expectCode(() => h.engine.act(id, 'acknowledge', { actor: 'officer-wang' }), 'INVALID_TRANSITION')
    expectCode(() => h.engine.act(id, 'resolve', { actor: 'officer-wang' }), 'NOTE_REQUIRED')
    expectCode(() => h.engine.act(id, 'dispatch', { actor: 'officer-wang' }), 'INVALID_TRANSITION')
    expectCode(() => h.engine.act('nope', 'acknowledge', { actor: 'officer-wang' }), 'NOT_FOUND')
    h.engine.act(id, 'comment', { actor: 'officer-wang', note: 'called the firm' })
    const resolved = h.engine.act(id, 'resolve', { actor: 'officer-wang', note: 'door repaired' })
    expect(resolved).toMatchObject({
      status: 'resolved',
      resolvedBy: 'officer-wang',
      resolutionNote: 'door repaired',
    })
    expectCode(() => h.engine.act(id, 'acknowledge', { actor: 'officer-wang' }), 'INVALID_TRANSITION')

    const transitions = h.engine.getTransitions(id)
    expect(transitions.map((t) => [t.transition, t.actor, t.status])).toEqual([
      ['raised', 'system', 'open'],
      ['acknowledged', 'officer-wang', 'acknowledged'],
      ['commented', 'officer-wang', 'acknowledged'],
      ['resolved', 'officer-wang', 'resolved'],
    ])
    // A new occurrence after resolution is a new alert.
    await h.engine.handle(h.elevatorEvent('el-1', 'door_open_fault'))
    expect(h.engine.listAlerts({ type: 'door_open_fault', limit: 10, offset: 0 }).total).toBe(2)

    // The audit trail cannot be rewritten, even with SQL.
    h.engine.recordMaintenance({ deviceId: 'el-1', startedAt: T(h, -30), endedAt: T(h, -1), actor: 'firm-1' })
    await h.engine.stop()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(`${h.env.DATA_DIR}/alerts.db`)
    onTestFinished(() => {
      db.close()
    })
    expect(() => db.prepare('UPDATE transitions SET actor = ?').run('x')).toThrow(/append-only/)
    expect(() => db.prepare('DELETE FROM transitions').run()).toThrow(/append-only/)
    expect(() => db.prepare('DELETE FROM maintenance_log').run()).toThrow(/append-only/)
  })

  it('filters and pages alerts', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'door_open_fault'))
    h.clock.advance(SECOND)
    await h.engine.handle(h.elevatorEvent('el-1', 'safety_circuit_open'))
    h.clock.advance(SECOND)
    await h.engine.handle(h.scaleEvent('sc-1', 'case_opened'))
    expect(h.engine.listAlerts({ limit: 2, offset: 0 }).items.map((a) => a.type)).toEqual([
      'case_opened',
      'safety_circuit_open',
    ])
    expect(h.engine.listAlerts({ limit: 2, offset: 2 }).items.map((a) => a.type)).toEqual(['door_open_fault'])
    expect(h.engine.listAlerts({ severity: 'critical', limit: 10, offset: 0 }).total).toBe(1)
    expect(h.engine.listAlerts({ tenantId: 'op-1', limit: 10, offset: 0 }).items[0]?.deviceId).toBe('sc-1')
    expect(h.engine.listAlerts({ siteCategory: 'mall', limit: 10, offset: 0 }).total).toBe(2)
    expect(h.engine.listAlerts({ from: h.clock.now() - SECOND, limit: 10, offset: 0 }).total).toBe(2)
  })
})

describe('rescue', () => {
  it('keeps each stage time and does not escalate a rescue on time', async () => {
    const h = await harness({ RESCUE_AUTO_DISPATCH: 'false' })
    const t0 = h.clock.now()
    await h.engine.handle(h.elevatorEvent('el-1', 'alarm_button', { trapped: true }))
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    expect(activeOf(h, 'el-1', 'alarm_button')).toHaveLength(1)
    const id = activeOf(h, 'el-1', 'trapped')[0]?.id ?? ''
    expectCode(() => h.engine.act(id, 'accept', { actor: 'firm-1' }), 'INVALID_TRANSITION')
    h.clock.advance(1 * MINUTE)
    h.engine.act(id, 'dispatch', { actor: 'officer-wang' })
    h.clock.advance(2 * MINUTE)
    h.engine.act(id, 'accept', { actor: 'firm-1' })
    h.clock.advance(12 * MINUTE)
    h.engine.act(id, 'arrive', { actor: 'firm-1', note: 'rescuer Li on site' })
    h.clock.advance(5 * MINUTE)
    const released = h.engine.act(id, 'release', { actor: 'firm-1' })
    expect(released.status).toBe('resolved')
    expect(activeOf(h, 'el-1', 'alarm_button')).toEqual([])
    expect(released.escalated).toBe(false)
    expect(released.rescue).toMatchObject({
      dispatchedAt: t0 + 1 * MINUTE,
      acceptedAt: t0 + 3 * MINUTE,
      arrivedAt: t0 + 15 * MINUTE,
      releasedAt: t0 + 20 * MINUTE,
      acceptMissed: false,
      arriveMissed: false,
    })
    h.clock.advance(60 * MINUTE)
    expect(h.changes.some((c) => c.change.transition === 'escalated')).toBe(false)
    expect(h.engine.getTransitions(id).map((t) => t.transition)).toEqual([
      'raised',
      'dispatched',
      'accepted',
      'arrived',
      'released',
      'resolved',
    ])
  })

  it('escalates a missed acceptance at 5 min and a missed arrival at 30 min', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'alarm_button'))
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    const id = activeOf(h, 'el-1', 'trapped')[0]?.id ?? ''
    h.clock.advance(5 * MINUTE - 1)
    expect(h.engine.getAlert(id)?.escalated).toBe(false)
    h.clock.advance(1)
    expect(h.engine.getAlert(id)?.rescue?.acceptMissed).toBe(true)
    expect(h.engine.getAlert(id)?.escalated).toBe(true)
    h.engine.act(id, 'accept', { actor: 'firm-1' })
    h.clock.advance(25 * MINUTE)
    const escalations = h.changes.filter((c) => c.change.transition === 'escalated')
    expect(escalations.map((c) => c.change.at - T(h, -30))).toEqual([5 * MINUTE, 30 * MINUTE])
    expect(escalations[1]?.alert.rescue?.arriveMissed).toBe(true)
    expect(escalations[1]?.change.severity).toBe('critical')
    expect(
      h.engine
        .getTransitions(id)
        .filter((t) => t.transition === 'escalated')
        .map((t) => t.details),
    ).toEqual([
      expect.objectContaining({ stage: 'accept', to: 'duty_officers' }),
      expect.objectContaining({ stage: 'arrive', to: 'duty_officers' }),
    ])
  })

  it('continues a rescue across a restart: alert, timeline and timers; a deadline missed while down escalates at start', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    const id = activeOf(h, 'el-1', 'trapped')[0]?.id ?? ''
    h.clock.advance(2 * MINUTE)
    h.engine.act(id, 'accept', { actor: 'firm-1' })
    h.clock.advance(8 * MINUTE)
    await h.engine.stop()
    h.clock.advance(25 * MINUTE) // down across the 30-minute arrival deadline
    expect(h.changes.some((c) => c.change.transition === 'escalated')).toBe(false)
    await h.restart()
    h.clock.advance(0)
    const alert = h.engine.getAlert(id)
    expect(alert?.status).toBe('open')
    expect(alert?.rescue).toMatchObject({ acceptedAt: T(h, -33), arriveMissed: true, acceptMissed: false })
    const escalated = h.changes.filter((c) => c.change.transition === 'escalated')
    expect(escalated).toHaveLength(1)
    expect(escalated[0]?.change.at).toBe(h.clock.now())
    // The arrival is still recorded (late) and the release closes it.
    h.engine.act(id, 'arrive', { actor: 'firm-1' })
    expect(h.engine.act(id, 'release', { actor: 'firm-1' }).rescue?.arrivedAt).toBe(h.clock.now())
  })

  it('re-arms a pending deadline after a restart and fires it on time', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    const id = activeOf(h, 'el-1', 'trapped')[0]?.id ?? ''
    h.clock.advance(1 * MINUTE)
    await h.restart()
    h.clock.advance(4 * MINUTE - 1)
    expect(h.engine.getAlert(id)?.rescue?.acceptMissed).toBe(false)
    h.clock.advance(1)
    expect(h.engine.getAlert(id)?.rescue?.acceptMissed).toBe(true)
  })
})

describe('restart', () => {
  it('continues a duration condition: the derived trapped alert fires 30 s after the first status', async () => {
    const h = await harness()
    const t0 = h.clock.now()
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    h.clock.advance(10 * SECOND)
    await h.restart()
    h.clock.advance(19 * SECOND)
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
    h.clock.advance(1 * SECOND)
    expect(activeOf(h, 'el-1', 'trapped')[0]?.openedAt).toBe(t0 + 30 * SECOND)
  })

  it('raises a condition whose deadline passed while down on the first status that confirms it', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    h.clock.advance(10 * SECOND)
    await h.engine.stop()
    h.clock.advance(60 * SECOND)
    await h.restart()
    h.clock.advance(1 * SECOND)
    expect(activeOf(h, 'el-1', 'trapped')).toEqual([])
    await h.engine.handle(h.elevatorStatus('el-1', TRAPPED_STATUS))
    expect(activeOf(h, 'el-1', 'trapped')).toHaveLength(1)
  })

  it('keeps alerts, counters and the redelivery window across a restart', async () => {
    const h = await harness()
    await h.engine.handle(h.scaleStatus('sc-1'))
    const tamper = h.scaleEvent('sc-1', 'case_opened')
    await h.engine.handle(tamper)
    await h.restart()
    await h.engine.handle(tamper) // the broker redelivers the unacknowledged message after the restart
    expect(activeOf(h, 'sc-1', 'case_opened')[0]?.count).toBe(1)
    await h.engine.handle(h.scaleStatus('sc-1', { paramCounter: 9 }))
    expect(activeOf(h, 'sc-1', 'counter_changed')[0]?.details).toMatchObject({
      paramCounter: { from: 7, to: 9 },
    })
  })
})

describe('redelivery windows in SQLite', () => {
  it('evaluates a reading synchronously: nothing to await, its alert is there when handle returns', async () => {
    const h = await harness()
    const result: unknown = h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    expect(result).toBeUndefined()
    expect(activeOf(h, 'el-1', 'trapped')).toHaveLength(1)
  })
  it("writes an event's window with the event's alert, else with the turn's other windows", async () => {
    const h = await harness()
    const db = new Database(alertsFile(h.env.DATA_DIR ?? ''), { readonly: true })
    onTestFinished(() => {
      db.close()
    })
    const stored = (deviceId: string): unknown => {
      const row = db
        .prepare(`SELECT state FROM rule_state WHERE device_id = ? AND rule = 'event_seqs'`)
        .get(deviceId) as { state: string } | undefined
      return row === undefined ? undefined : JSON.parse(row.state).window
    }
    const pair = (r: Reading) => [r.data.seq, r.data.ts]
    const modeChange = h.elevatorEvent('el-1', 'mode_change', { mode: 'inspection' })
    await h.engine.handle(modeChange) // changes nothing: its window waits for the end of the turn
    expect(stored('el-1')).toBeUndefined()

    await h.engine.handle(h.scaleStatus('sc-1'))
    const tamper = h.scaleEvent('sc-1', 'case_opened')
    await h.engine.handle(tamper) // raises an alert: both pending windows go in its transaction
    expect(activeOf(h, 'sc-1', 'case_opened')).toHaveLength(1)
    expect(stored('sc-1')).toEqual(pair(tamper))
    expect(stored('el-1')).toEqual(pair(modeChange))

    const back = h.elevatorEvent('el-1', 'mode_change', { mode: 'normal' })
    await h.engine.handle(back)
    expect(stored('el-1')).toEqual(pair(modeChange))
    await new Promise((resolve) => setImmediate(resolve))
    expect(stored('el-1')).toEqual([...pair(modeChange), ...pair(back)])
  })
})

describe('maintenance and scheduled scans', () => {
  it('logs maintenance sessions from events and by hand, and keeps the registry date current', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'maintenance_start', { technician: 'T1234' }))
    h.clock.advance(40 * MINUTE)
    await h.engine.handle(h.elevatorEvent('el-1', 'maintenance_end'))
    const [fromDevice] = h.engine.listMaintenance({ deviceId: 'el-1' })
    expect(fromDevice).toMatchObject({
      source: 'device',
      startedAt: T(h, -40),
      endedAt: h.clock.now(),
      kind: 'half_monthly',
      tenantId: 'firm-1',
    })
    const elevator = h.registry.getDevice('el-1')
    expect(elevator?.kind === 'elevator' && elevator.lastMaintenanceAt).toBe(h.clock.now())
    const byHand = h.engine.recordMaintenance({
      deviceId: 'el-1',
      startedAt: h.clock.now() - 60 * MINUTE,
      endedAt: h.clock.now() - 30 * MINUTE,
      kind: 'quarterly',
      actor: 'firm-1',
    })
    expect(byHand.source).toBe('api')
    expect(h.engine.listMaintenance({ tenantId: 'firm-1' })).toHaveLength(2)
    expectCode(
      () => h.engine.recordMaintenance({ deviceId: 'sc-1', startedAt: 1, endedAt: 2, actor: 'x' }),
      'WRONG_KIND',
    )
    expectCode(
      () => h.engine.recordMaintenance({ deviceId: 'el-1', startedAt: 5, endedAt: 2, actor: 'x' }),
      'INVALID_INPUT',
    )
  })

  it('raises maintenance overdue after more than 15 Shanghai calendar days and resolves it on maintenance', async () => {
    // Last maintenance 2026-02-22 23:30 Shanghai (15:30 UTC).
    const h = await createHarness({}, { start: MARCH_1, seed: seedScans })
    onTestFinished(() => h.cleanup())
    h.clock.set(Date.parse('2026-03-09T15:59:00Z')) // 2026-03-09 23:59 Shanghai: 15 days
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'el-1', 'maintenance_overdue')).toEqual([])
    h.clock.set(Date.parse('2026-03-09T16:00:00Z')) // 2026-03-10 00:00 Shanghai: 16 days
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'el-1', 'maintenance_overdue')[0]).toMatchObject({
      severity: 'major',
      details: expect.objectContaining({ lastMaintenanceOn: '2026-02-22', daysSince: 16 }),
    })
    await h.engine.runScheduledScans() // idempotent
    expect(h.engine.listAlerts({ type: 'maintenance_overdue', limit: 10, offset: 0 }).total).toBe(1)
    h.engine.recordMaintenance({
      deviceId: 'el-1',
      startedAt: h.clock.now() - 30 * MINUTE,
      endedAt: h.clock.now(),
      actor: 'firm-1',
    })
    expect(activeOf(h, 'el-1', 'maintenance_overdue')).toEqual([])
  })

  it('raises inspection and verification due within 30 days and overdue after, by Shanghai dates', async () => {
    const h = await createHarness({}, { start: MARCH_1, seed: seedScans })
    onTestFinished(() => h.cleanup())
    // Inspection due 2026-04-15, verification due 2026-04-20 (last valid days).
    h.clock.set(Date.parse('2026-03-15T15:59:00Z')) // 2026-03-15 Shanghai: 31 days before the inspection
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'el-1', 'inspection_due')).toEqual([])
    h.clock.set(Date.parse('2026-03-15T16:00:00Z')) // 2026-03-16: 30 days
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'el-1', 'inspection_due')[0]).toMatchObject({
      severity: 'info',
      details: { dueOn: '2026-04-15', daysLeft: 30 },
    })
    expect(activeOf(h, 'sc-1', 'verification_due')).toEqual([])

    // Declaring the inspection answers the reminder.
    h.certification.declareInspection('el-1', { declaredOn: '2026-03-16', actor: 'firm-1' })
    await Promise.resolve()
    expect(activeOf(h, 'el-1', 'inspection_due')).toEqual([])

    h.clock.set(Date.parse('2026-04-15T16:00:00Z')) // 2026-04-16: inspection overdue, verification due
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'el-1', 'inspection_overdue')[0]?.severity).toBe('major')
    expect(activeOf(h, 'sc-1', 'verification_due')[0]?.details).toMatchObject({
      dueOn: '2026-04-20',
      daysLeft: 4,
    })

    h.clock.set(Date.parse('2026-04-20T16:00:00Z')) // 2026-04-21: verification overdue replaces due
    await h.engine.runScheduledScans()
    expect(activeOf(h, 'sc-1').map((a) => a.type)).toEqual(['verification_overdue'])

    // Passed inspection and verification resolve them.
    h.certification.recordInspection('el-1', { inspectedOn: '2026-04-21', passed: true, actor: 'inspector' })
    h.certification.recordVerification('sc-1', {
      verifiedOn: '2026-04-21',
      passed: true,
      verifier: 'institute',
    })
    await Promise.resolve()
    await Promise.resolve()
    expect(activeOf(h, 'el-1', 'inspection_overdue')).toEqual([])
    expect(activeOf(h, 'sc-1')).toEqual([])
  })
})

describe('cron', () => {
  it('runs the scheduled scans on SCAN_CRON (node-cron, Asia/Shanghai)', async () => {
    // Every second, so the test sees a scan; the scan itself reads the (fake) clock for "today".
    const h = await createHarness({ SCAN_CRON: '* * * * * *' }, { start: MARCH_1, seed: seedScans })
    onTestFinished(() => h.cleanup())
    h.clock.set(Date.parse('2026-03-10T00:00:00Z')) // 16 days after the last maintenance
    const deadline = Date.now() + 5000
    while (activeOf(h, 'el-1', 'maintenance_overdue').length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(activeOf(h, 'el-1', 'maintenance_overdue')).toHaveLength(1)
  })

  it('refuses an invalid cron expression at configuration', async () => {
    const { parseEnv } = await import('../domain/config.ts')
    const { AlertsConfigSchema } = await import('./config.ts')
    expect(() => parseEnv(AlertsConfigSchema, { SCAN_CRON: 'every hour' })).toThrow(/SCAN_CRON/)
    expect(parseEnv(AlertsConfigSchema, {})).toMatchObject({
      TRAPPED_AFTER_S: 30,
      STOPPED_OUTSIDE_DOOR_ZONE_S: 60,
      OVERSPEED_WARNING_FACTOR: 1.2,
      OVERSPEED_CRITICAL_FACTOR: 1.4,
      ZERO_OFFSET_LIMIT_E: 0.5,
      OFFLINE_AFTER_PERIODS: 3,
      MAINTENANCE_INTERVAL_DAYS: 15,
      INSPECTION_DUE_SOON_DAYS: 30,
      VERIFICATION_DUE_SOON_DAYS: 30,
      VERIFICATION_PERIOD_MONTHS: 12,
      RESCUE_ACCEPT_LIMIT_S: 300,
      RESCUE_ARRIVE_LIMIT_S: 1800,
    })
  })
})

describe('records and snapshots', () => {
  it('records accidents append-only and refuses unknown sites', async () => {
    const h = await harness()
    const record = h.engine.recordAccident({
      at: h.clock.now() - MINUTE,
      siteId: 'mall-1',
      deviceId: 'el-1',
      fatal: false,
      description: 'passenger fell at the landing',
      actor: 'officer-wang',
    })
    expect(record).toMatchObject({ siteId: 'mall-1', fatal: false })
    expect(h.engine.listAccidents({ siteId: 'mall-1' })).toEqual([record])
    expectCode(
      () => h.engine.recordAccident({ at: 1, siteId: 'nope', fatal: true, description: 'x', actor: 'y' }),
      'NOT_FOUND',
    )
  })

  it('shows the last status and recent events of a device', async () => {
    const h = await harness()
    expect(h.engine.deviceSnapshot('ghost')).toBeNull()
    expect(h.engine.deviceSnapshot('el-1')).toEqual({
      lastStatus: null,
      lastSeenAt: null,
      online: false,
      recentEvents: [],
    })
    await h.engine.handle(h.elevatorStatus('el-1', { floor: 7 }))
    await h.engine.handle(h.elevatorEvent('el-1', 'mode_change', { mode: 'fire_return' }))
    const snapshot = h.engine.deviceSnapshot('el-1')
    expect(snapshot?.lastStatus).toMatchObject({ floor: 7 })
    expect(snapshot?.recentEvents).toEqual([
      { at: h.clock.now(), code: 'mode_change', detail: { mode: 'fire_return' } },
    ])
    expect(snapshot?.online).toBe(true)
  })
})

describe('active alert counts', () => {
  it('counts active alerts per type, severity, kind, site, tenant and category; open ones as unacknowledged', async () => {
    const h = await harness()
    h.registry.createElevator({
      id: 'el-2',
      siteId: 'mall-1',
      tenantId: 'firm-1',
      registrationCode: '31104201002019000002',
      ratedSpeedMps: 1,
      floors: 10,
    })
    expect(h.engine.activeAlertCounts()).toEqual([])

    await h.engine.handle(h.elevatorEvent('el-1', 'door_close_fault'))
    await h.engine.handle(h.elevatorEvent('el-1', 'door_close_fault')) // a repeat: the same alert
    await h.engine.handle(h.elevatorEvent('el-2', 'door_close_fault'))
    await h.engine.handle(h.elevatorEvent('el-1', 'safety_circuit_open'))
    await h.engine.handle(h.scaleEvent('sc-1', 'case_opened'))
    const el2Door = activeOf(h, 'el-2', 'door_close_fault')[0]
    const safety = activeOf(h, 'el-1', 'safety_circuit_open')[0]
    if (!el2Door || !safety) throw new Error('alerts not raised')
    h.engine.act(el2Door.id, 'acknowledge', { actor: 'officer-wang' })
    h.engine.act(safety.id, 'resolve', { actor: 'officer-wang', note: 'circuit reset on site' })

    expect(h.engine.activeAlertCounts()).toEqual([
      {
        type: 'door_close_fault',
        severity: 'warning',
        kind: 'elevator',
        siteId: 'mall-1',
        tenantId: 'firm-1',
        siteCategory: 'mall',
        active: 2,
        unacknowledged: 1,
      },
      {
        type: 'case_opened',
        severity: 'major',
        kind: 'scale',
        siteId: 'market-1',
        tenantId: 'op-1',
        siteCategory: 'market',
        active: 1,
        unacknowledged: 1,
      },
    ])
    // The figures agree with what the API lists.
    const listed = h.engine.listAlerts({ status: 'active', limit: 100, offset: 0 })
    const counted = h.engine.activeAlertCounts()
    expect(counted.reduce((n, c) => n + c.active, 0)).toBe(listed.total)
    expect(counted.reduce((n, c) => n + c.unacknowledged, 0)).toBe(
      listed.items.filter((a) => a.status === 'open').length,
    )
  })

  it('follows a severity raised and an escalation into their new group, and survives a restart', async () => {
    const h = await harness()
    await h.engine.handle(h.elevatorEvent('el-1', 'overspeed', { factor: 1.3 }))
    expect(h.engine.activeAlertCounts().map((c) => [c.type, c.severity, c.active])).toEqual([
      ['overspeed', 'warning', 1],
    ])
    await h.engine.handle(h.elevatorEvent('el-1', 'overspeed', { factor: 1.45 }))
    expect(h.engine.activeAlertCounts().map((c) => [c.type, c.severity, c.active])).toEqual([
      ['overspeed', 'critical', 1],
    ])

    // A scale's major tamper alert and a trapped passenger whose rescue is late; 31 silent minutes
    // also take both devices offline.
    await h.engine.handle(h.scaleEvent('sc-1', 'param_changed'))
    await h.engine.handle(h.elevatorEvent('el-1', 'trapped'))
    h.clock.advance(31 * MINUTE)
    const trapped = activeOf(h, 'el-1', 'trapped')[0]
    expect(trapped?.escalated).toBe(true)
    if (trapped) h.engine.act(trapped.id, 'acknowledge', { actor: 'officer-wang' })
    const before = h.engine.activeAlertCounts()
    expect(before.map((c) => [c.kind, c.type, c.severity, c.active, c.unacknowledged])).toEqual([
      ['elevator', 'offline', 'warning', 1, 1],
      ['elevator', 'overspeed', 'critical', 1, 1],
      ['elevator', 'trapped', 'critical', 1, 0],
      ['scale', 'offline', 'warning', 1, 1],
      ['scale', 'param_changed', 'major', 1, 1],
    ])

    await h.restart()
    expect(h.engine.activeAlertCounts()).toEqual(before)
    await h.engine.stop()
    expect(h.engine.activeAlertCounts()).toEqual([])
  })
})

/** The clock `minutes` from now (negative: before now). */
function T(h: Harness, minutes: number): number {
  return h.clock.now() + minutes * MINUTE
}

const MARCH_1 = Date.parse('2026-03-01T00:00:00Z')

function seedScans(registry: Registry, _clock: FakeClock): void {
  registry.createTenant({ id: 'firm-1', name: 'Firm One', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'op-1', name: 'Operator', kind: 'site_operator' })
  registry.createSite({ id: 'mall-1', name: 'Mall', category: 'mall', address: 'a' })
  registry.createSite({ id: 'market-1', name: 'Market', category: 'market', address: 'b' })
  registry.createElevator({
    id: 'el-1',
    siteId: 'mall-1',
    tenantId: 'firm-1',
    registrationCode: '31104201002019000001',
    ratedSpeedMps: 1,
    floors: 10,
    lastInspectionOn: '2025-04-16',
    nextInspectionDue: '2026-04-15',
    lastMaintenanceAt: Date.parse('2026-02-22T15:30:00Z'),
  })
  registry.createScale({
    id: 'sc-1',
    siteId: 'market-1',
    tenantId: 'op-1',
    certificateNo: 'C-1',
    maxKg: 30,
    eG: 10,
    lastVerificationOn: '2025-04-21',
    nextVerificationDue: '2026-04-20',
  })
}
