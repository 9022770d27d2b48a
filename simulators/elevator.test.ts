import { describe, expect, it } from 'vitest'
import type { ElevatorEvent, ElevatorStatus } from '../domain/protocol.ts'
import { ELEVATOR_EVENT_CODES } from '../domain/protocol.ts'
import { createElevatorSim, ELEVATOR_FAULT_CODES, type ElevatorSimOptions } from './elevator.ts'
import { createRng } from './random.ts'
import type { SimMessage } from './sim-core.ts'
import { expectSchemaValid, runSim } from './test-support.ts'

// 08:00 in Wuhan on a Monday: the morning peak.
const START = Date.UTC(2025, 2, 3, 0, 0)
const QUIET: Partial<ElevatorSimOptions> = {
  faultsPerHour: 0,
  alarmsPerHour: 0,
  modeChangesPerHour: 0,
  maintenancePerHour: 0,
  trappedPerHour: 0,
  offlinePerHour: 0,
}

function sim(seed: string | number = 1, options: Partial<ElevatorSimOptions> = {}) {
  return createElevatorSim({
    spec: { id: 'el-test', ratedSpeedMps: 1.75, floors: 18 },
    rng: createRng(seed),
    startAt: START,
    options,
  })
}

const statuses = (msgs: SimMessage[]): ElevatorStatus[] =>
  msgs.flatMap((m) => (m.type === 'elevator_status' ? [m.payload] : []))
const events = (msgs: SimMessage[]): ElevatorEvent[] =>
  msgs.flatMap((m) => (m.type === 'elevator_event' ? [m.payload] : []))

function expectValid(msgs: SimMessage[]): void {
  expectSchemaValid(msgs)
  for (const m of msgs) expect(m.type === 'elevator_status' || m.type === 'elevator_event').toBe(true)
}

describe('elevator simulator', () => {
  it('emits only schema-valid messages with one increasing seq over a busy day', () => {
    const s = sim('day', {
      faultsPerHour: 1,
      alarmsPerHour: 1,
      modeChangesPerHour: 0.3,
      maintenancePerHour: 0.3,
      trappedPerHour: 0.5,
      offlinePerHour: 0.2,
    })
    const msgs = [...s.drain(), ...runSim(s, 24 * 3_600_000, 5000)]
    expect(msgs.length).toBeGreaterThan(10_000)
    expectValid(msgs)
    for (let i = 1; i < msgs.length; i++) {
      const prev = msgs[i - 1]?.payload
      const cur = msgs[i]?.payload
      if (!prev || !cur) throw new Error('gap')
      // seq moves on by one per message across topics; an offline spell sends nothing and skips nothing.
      expect(cur.seq).toBe(prev.seq + 1)
      expect(cur.ts).toBeGreaterThanOrEqual(prev.ts)
    }
    const codes = new Set(events(msgs).map((e) => e.code))
    for (const code of ['maintenance_start', 'maintenance_end', 'mode_change', 'trapped', 'fault_cleared']) {
      expect(codes).toContain(code)
    }
  })

  it('reports status every period and on each change, with speed within the rating', () => {
    const s = sim(3, QUIET)
    const msgs = [...s.drain(), ...runSim(s, 3_600_000, 500)]
    const st = statuses(msgs)
    for (let i = 1; i < st.length; i++) {
      const gap = (st[i]?.ts ?? 0) - (st[i - 1]?.ts ?? 0)
      expect(gap).toBeLessThanOrEqual(5000)
    }
    // It served calls in the morning peak: the door cycled and the car travelled.
    const doors = new Set(st.map((x) => x.door))
    expect([...doors].sort()).toEqual(['closed', 'closing', 'open', 'opening'])
    expect(st.some((x) => x.direction === 'up')).toBe(true)
    expect(st.some((x) => x.direction === 'down')).toBe(true)
    expect(st.some((x) => x.occupied && x.load > 0)).toBe(true)
    const maxSpeed = Math.max(...st.map((x) => x.speed))
    expect(maxSpeed).toBeLessThanOrEqual(1.75)
    expect(maxSpeed).toBeGreaterThan(1)
    for (const x of st) {
      if (x.direction === 'stopped') expect(x.speed).toBe(0)
      if (x.door !== 'closed') expect(x.direction).toBe('stopped')
      if (x.door !== 'closed') expect(x.doorLock).toBe(false)
    }
    // A door change is reported at the tick it happens, not at the next period.
    for (let i = 1; i < st.length; i++) {
      const prev = st[i - 1]
      const cur = st[i]
      if (prev && cur && prev.door === 'closed' && cur.door === 'opening') {
        expect(cur.ts - prev.ts).toBeLessThanOrEqual(5000)
      }
    }
  })

  it('is reproducible from its seed', () => {
    const a = sim(42)
    const b = sim(42)
    const c = sim(43)
    const ma = [...a.drain(), ...runSim(a, 2 * 3_600_000, 5000)]
    const mb = [...b.drain(), ...runSim(b, 2 * 3_600_000, 5000)]
    const mc = [...c.drain(), ...runSim(c, 2 * 3_600_000, 5000)]
    expect(mb).toEqual(ma)
    expect(mc).not.toEqual(ma)
  })

  it('plays the trapped sequence between floors with the trapped event', () => {
    const s = sim(5, QUIET)
    runSim(s, 60_000)
    const t0 = s.now()
    s.inject({
      type: 'trapped',
      levelled: false,
      trappedEventAfterMs: 30_000,
      releaseAfterMs: 10 * 60_000,
      passengers: 2,
    })
    const msgs = [...s.drain(), ...runSim(s, 12 * 60_000, 500)]
    expectValid(msgs)
    const during = statuses(msgs).filter((x) => x.ts >= t0 && x.ts < t0 + 10 * 60_000)
    expect(during.length).toBeGreaterThan(100)
    for (const x of during) {
      expect(x).toMatchObject({ levelled: false, doorZone: false, door: 'closed', occupied: true })
      expect(x).toMatchObject({ speed: 0, direction: 'stopped', mode: 'normal' })
    }
    expect(during.some((x) => x.alarmButton)).toBe(true)
    const ev = events(msgs)
    const alarm = ev.find((e) => e.code === 'alarm_button')
    expect(alarm && alarm.ts - t0).toBeLessThanOrEqual(15_000)
    const trapped = ev.filter((e) => e.code === 'trapped')
    expect(trapped).toHaveLength(1)
    expect(trapped[0]?.ts).toBe(t0 + 30_000)
    expect(trapped[0]?.detail).toMatchObject({ levelled: false, doorZone: false, passengers: 2 })
    const cleared = ev.find((e) => e.code === 'fault_cleared')
    expect(cleared?.detail).toMatchObject({ code: 'trapped' })
    expect(cleared?.ts).toBe(t0 + 10 * 60_000)
    // Released: the car is at a landing, the door opens, the passengers leave, service goes on.
    const after = statuses(msgs).filter((x) => x.ts >= t0 + 10 * 60_000)
    const opened = after.find((x) => x.door === 'opening' || x.door === 'open')
    expect(opened).toMatchObject({ levelled: true, doorZone: true })
    expect(after.some((x) => x.door === 'open' && !x.occupied)).toBe(true)
    expect(s.isTrapped()).toBe(false)
  })

  it('plays the trapped sequence at a floor without a trapped event (derive it from status)', () => {
    const s = sim(6, QUIET)
    runSim(s, 30_000)
    const t0 = s.now()
    s.inject({
      type: 'trapped',
      levelled: true,
      sendTrappedEvent: false,
      alarmButton: false,
      releaseAfterMs: 5 * 60_000,
    })
    const msgs = [...s.drain(), ...runSim(s, 6 * 60_000, 500)]
    expectValid(msgs)
    const ev = events(msgs)
    expect(
      ev.filter((e) => e.code === 'trapped' || e.code === 'fault_cleared' || e.code === 'alarm_button'),
    ).toEqual([])
    const during = statuses(msgs).filter((x) => x.ts >= t0 && x.ts < t0 + 5 * 60_000)
    // What a status-only detector sees: stopped, door closed, occupied for the whole 5 minutes.
    expect((during.at(-1)?.ts ?? 0) - (during[0]?.ts ?? 0)).toBeGreaterThan(4 * 60_000)
    for (const x of during) {
      expect(x).toMatchObject({ levelled: true, doorZone: true, door: 'closed', occupied: true, speed: 0 })
      expect(x.alarmButton).toBe(false)
    }
    const after = statuses(msgs).filter((x) => x.ts >= t0 + 5 * 60_000)
    expect(after.some((x) => x.door === 'open')).toBe(true)
  })

  it('produces every catalogue event code, each fault cleared later with its code', () => {
    const seen = new Set<string>()
    for (const code of ELEVATOR_FAULT_CODES) {
      const s = sim(`fault-${code}`, QUIET)
      runSim(s, 20_000)
      const t0 = s.now()
      s.inject({ type: 'fault', code, clearAfterMs: 120_000 })
      const msgs = [...s.drain(), ...runSim(s, 180_000, 500)]
      expectValid(msgs)
      const ev = events(msgs)
      const raised = ev.find((e) => e.code === code)
      expect(raised?.ts).toBe(t0)
      const cleared = ev.find((e) => e.code === 'fault_cleared')
      expect(cleared?.detail).toMatchObject({ code })
      expect(cleared?.ts).toBe(t0 + 120_000)
      const at = statuses(msgs).filter((x) => x.ts === t0)
      expect(at.length).toBeGreaterThan(0)
      const during = statuses(msgs).filter((x) => x.ts > t0 && x.ts < t0 + 120_000)
      for (const x of during) expect(x.occupied).toBe(false)
      if (code === 'power_failure') for (const x of during) expect(x.power).toBe(false)
      if (code === 'safety_circuit_open') for (const x of during) expect(x.safetyCircuit).toBe(false)
      if (code === 'door_lock_open') for (const x of during) expect(x.doorLock).toBe(false)
      if (code === 'stopped_outside_door_zone') for (const x of during) expect(x.doorZone).toBe(false)
      if (code === 'door_close_fault') for (const x of during) expect(x.door).toBe('open')
      const end = statuses(msgs).filter((x) => x.ts > t0 + 120_000)
      expect(end.at(-1)).toMatchObject({ safetyCircuit: true, power: true })
      for (const e of ev) seen.add(e.code)
    }

    const s = sim('others', QUIET)
    s.inject({ type: 'alarm' })
    s.inject({ type: 'mode', mode: 'fire_return', durationMs: 60_000 })
    const modeMsgs = [...s.drain(), ...runSim(s, 120_000, 500)]
    s.inject({ type: 'maintenance', durationMs: 10 * 60_000 })
    const maintMsgs = [...s.drain(), ...runSim(s, 11 * 60_000, 1000)]
    s.inject({ type: 'trapped' })
    const trappedMsgs = [...s.drain(), ...runSim(s, 30 * 60_000, 1000)]
    const all = [...modeMsgs, ...maintMsgs, ...trappedMsgs]
    expectValid(all)
    for (const e of events(all)) seen.add(e.code)
    expect([...seen].sort()).toEqual([...ELEVATOR_EVENT_CODES].sort())

    const modes = events(modeMsgs).filter((e) => e.code === 'mode_change')
    expect(modes.map((e) => e.detail?.mode)).toEqual(['fire_return', 'normal'])
    // Fire return takes the car to the designated landing and holds the door open.
    const fire = statuses(modeMsgs).filter((x) => x.mode === 'fire_return')
    expect(fire.at(-1)).toMatchObject({ floor: 1, door: 'open' })
    const maint = statuses(maintMsgs).filter((x) => x.mode === 'maintenance')
    expect((maint.at(-1)?.ts ?? 0) - (maint[0]?.ts ?? 0)).toBeGreaterThanOrEqual(9 * 60_000)
    expect(events(maintMsgs).map((e) => e.code)).toEqual(['maintenance_start', 'maintenance_end'])
  })

  it('reports overspeed with a matching status speed and trips the safety circuit', () => {
    for (const factor of [1.25, 1.5]) {
      const s = sim('overspeed', QUIET)
      runSim(s, 10_000)
      const t0 = s.now()
      s.inject({ type: 'overspeed', factor, clearAfterMs: 60_000 })
      const msgs = [...s.drain(), ...runSim(s, 5_000, 500)]
      const ev = events(msgs).find((e) => e.code === 'overspeed')
      const speed = Number(ev?.detail?.speed)
      expect(speed).toBeGreaterThan(1.2 * 1.75)
      expect(ev?.detail?.level).toBe(factor >= 1.4 ? 'critical' : 'warning')
      const st = statuses(msgs)
      expect(st.find((x) => x.ts === t0)).toMatchObject({ speed, direction: 'down' })
      expect(st.at(-1)).toMatchObject({ speed: 0, direction: 'stopped', safetyCircuit: false })
    }
  })

  it('sends nothing while offline and reports at once when back', () => {
    const s = sim(8, QUIET)
    runSim(s, 10_000)
    const t0 = s.now()
    s.inject({ type: 'offline', durationMs: 60_000 })
    expect(s.isOffline()).toBe(true)
    const msgs = runSim(s, 120_000, 500)
    expect(msgs.filter((m) => m.payload.ts < t0 + 60_000)).toEqual([])
    expect(s.isOffline()).toBe(false)
    expect(msgs[0]?.payload.ts).toBe(t0 + 60_000)
    expect(msgs[0]?.type).toBe('elevator_status')
  })
})
