import { describe, expect, it } from 'vitest'
import type { ScaleEvent, ScaleStatus, ScaleWeighing } from '../domain/protocol.ts'
import { createRng } from './random.ts'
import { createScaleSim, type ScaleSimOptions } from './scale.ts'
import type { SimMessage } from './sim-core.ts'
import { expectSchemaValid, runSim } from './test-support.ts'

// Midnight in Wuhan: the market is shut for six hours, then the day starts.
const MIDNIGHT = Date.UTC(2025, 2, 2, 16, 0)
const HOUR = 3_600_000
const QUIET: Partial<ScaleSimOptions> = {
  tamperPerHour: 0,
  selfCheckFailPerHour: 0,
  offlinePerHour: 0,
  cheatShare: 0,
}

function sim(seed: string | number = 1, options: Partial<ScaleSimOptions> = {}, startAt = MIDNIGHT) {
  return createScaleSim({ spec: { id: 'sc-test', maxKg: 15, eG: 5 }, rng: createRng(seed), startAt, options })
}
const weighings = (m: SimMessage[]): ScaleWeighing[] =>
  m.flatMap((x) => (x.type === 'scale_weighing' ? [x.payload] : []))
const statuses = (m: SimMessage[]): ScaleStatus[] =>
  m.flatMap((x) => (x.type === 'scale_status' ? [x.payload] : []))
const events = (m: SimMessage[]): ScaleEvent[] =>
  m.flatMap((x) => (x.type === 'scale_event' ? [x.payload] : []))

describe('scale simulator', () => {
  it('emits schema-valid messages with one increasing seq through a market day', () => {
    const s = sim('day', { tamperPerHour: 0.2, selfCheckFailPerHour: 0.2, offlinePerHour: 0.2 })
    const msgs = [...s.drain(), ...runSim(s, 24 * HOUR, 10_000)]
    expectSchemaValid(msgs)
    for (let i = 1; i < msgs.length; i++) {
      expect(msgs[i]?.payload.seq).toBe((msgs[i - 1]?.payload.seq ?? 0) + 1)
    }
    expect(events(msgs)[0]?.code).toBe('power_on')
    const st = statuses(msgs)
    // Every 60 s, with offline gaps only.
    expect(st.length).toBeGreaterThan(1000)
  })

  it('weighs realistic purchases in market hours only, priced to the fen', () => {
    const s = sim(11, QUIET)
    const msgs = [...s.drain(), ...runSim(s, 24 * HOUR, 5000)]
    const w = weighings(msgs)
    expect(w.length).toBeGreaterThan(150)
    for (const x of w) {
      const hour = ((((x.ts - MIDNIGHT) / HOUR) % 24) + 24) % 24
      // Shut from 22:00 to 04:00 (the profile ramps up from 04:00 to the 05:00 set-up hour).
      expect(hour > 4 && hour < 22).toBe(true)
      expect(x.amountCny).toBe(Math.round(x.netKg * x.unitPriceCny * 100) / 100)
      expect(x.netKg).toBeCloseTo(x.grossKg - x.tareKg, 6)
      expect(x.grossKg).toBeLessThanOrEqual(15)
      // Quantised to e = 5 g.
      expect(Math.abs(x.grossKg * 200 - Math.round(x.grossKg * 200))).toBeLessThan(1e-6)
    }
    const typical = w.filter((x) => x.netKg >= 0.1 && x.netKg <= 5).length / w.length
    expect(typical).toBeGreaterThan(0.85)
    expect(w.filter((x) => x.stable).length / w.length).toBeGreaterThan(0.85)
    expect(w.some((x) => x.tareKg > 0)).toBe(true)
    expect(new Set(w.map((x) => x.unitPriceCny)).size).toBeGreaterThan(1)
  })

  it('weighs through the night when given a day without closing hours', () => {
    const shut = sim(12, QUIET)
    const open = sim(12, { ...QUIET, marketHours: Array.from({ length: 24 }, () => 1) })
    // Midnight to 04:00 in Wuhan: a wet market is shut.
    expect(weighings(runSim(shut, 4 * HOUR, 5000))).toEqual([])
    expect(weighings(runSim(open, 4 * HOUR, 5000)).length).toBeGreaterThan(100)
  })

  it('bumps the counters on tampering and breaks the seal when the case is opened', () => {
    const s = sim(12, QUIET)
    runSim(s, 7 * HOUR)
    const p0 = s.peekStatus()
    s.inject({ type: 'tamper', kind: 'case_opened' })
    s.inject({ type: 'tamper', kind: 'unlock' })
    s.inject({ type: 'tamper', kind: 'param_changed' })
    s.inject({ type: 'tamper', kind: 'calibration_changed' })
    const msgs = s.drain()
    expectSchemaValid(msgs)
    expect(events(msgs).map((e) => e.code)).toEqual([
      'case_opened',
      'seal_broken',
      'unlock',
      'param_changed',
      'calibration_changed',
    ])
    const param = events(msgs).find((e) => e.code === 'param_changed')
    expect(param?.detail?.paramCounter).toBe(p0.paramCounter + 1)
    const last = statuses(msgs).at(-1)
    expect(last).toMatchObject({
      sealIntact: false,
      paramCounter: p0.paramCounter + 1,
      calibrationCounter: p0.calibrationCounter + 1,
    })
    // The seal stays broken in later periodic reports.
    expect(statuses(runSim(s, 5 * 60_000)).every((x) => !x.sealIntact)).toBe(true)
  })

  it('locks when the case is opened: no weighings until unlocked', () => {
    const s = sim(13, QUIET, MIDNIGHT + 7 * HOUR)
    s.inject({ type: 'tamper', kind: 'case_opened' })
    expect(weighings(runSim(s, HOUR))).toEqual([])
    s.inject({ type: 'tamper', kind: 'unlock' })
    expect(weighings(runSim(s, HOUR)).length).toBeGreaterThan(0)
  })

  it('plays a tamper sequence over a few minutes', () => {
    const s = sim(14, { ...QUIET, tamperStepMs: [30_000, 30_000] }, MIDNIGHT + 8 * HOUR)
    s.inject({ type: 'tamper', kind: 'sequence' })
    const msgs = [...s.drain(), ...runSim(s, 10 * 60_000)]
    const codes = events(msgs)
      .map((e) => e.code)
      .filter((c) => c !== 'zero' && c !== 'tare' && c !== 'power_on')
    expect(codes.slice(0, 4)).toEqual(['case_opened', 'seal_broken', 'unlock', 'param_changed'])
    const unlock = events(msgs).find((e) => e.code === 'unlock')
    const opened = events(msgs).find((e) => e.code === 'case_opened')
    expect((unlock?.ts ?? 0) - (opened?.ts ?? 0)).toBe(30_000)
  })

  it('cheat mode inflates every weighing by the factor', () => {
    const honest = sim(15, QUIET, MIDNIGHT + 8 * HOUR)
    const cheat = sim(15, QUIET, MIDNIGHT + 8 * HOUR)
    cheat.inject({ type: 'cheat', factor: 1.15 })
    const a = weighings(runSim(honest, HOUR))
    const b = weighings(runSim(cheat, HOUR))
    expect(b.length).toBe(a.length)
    expect(a.length).toBeGreaterThan(10)
    a.forEach((x, i) => {
      const y = b[i]
      if (!y || x.netKg < 0.5) return
      // Same purchase, shown 15% heavier (within the 5 g display step and the zero offset).
      expect(y.netKg / x.netKg).toBeGreaterThan(1.12)
      expect(y.netKg / x.netKg).toBeLessThan(1.18)
    })
    cheat.inject({ type: 'reseal' })
    expect(cheat.isCheating()).toBe(false)
  })

  it('drifts its zero slowly and reports an injected drift at once', () => {
    const s = sim(16, { ...QUIET, weighingsPerHourPeak: 0 })
    const st = statuses([...s.drain(), ...runSim(s, 24 * HOUR, 10_000)])
    const offsets = st.map((x) => x.zeroOffsetE)
    expect(new Set(offsets).size).toBeGreaterThan(50)
    // A random walk of 0.05 e per minute: no jumps between consecutive reports.
    for (let i = 1; i < offsets.length; i++) {
      expect(Math.abs((offsets[i] ?? 0) - (offsets[i - 1] ?? 0))).toBeLessThan(0.3)
    }
    // Mean-reverting: the offset rarely strays past +-0.5 e.
    expect(offsets.filter((z) => Math.abs(z) > 0.5).length / offsets.length).toBeLessThan(0.1)
    s.inject({ type: 'zero_drift', offsetE: 0.8 })
    expect(statuses(s.drain()).at(-1)?.zeroOffsetE).toBe(0.8)
    // A failing load cell stays off: two hours later the zero still sits near 0.8 e.
    const later = statuses(runSim(s, 2 * HOUR, 60_000)).slice(-30)
    const mean = later.reduce((sum, x) => sum + x.zeroOffsetE, 0) / later.length
    expect(mean).toBeGreaterThan(0.55)
    s.inject({ type: 'reseal' })
    const repaired = statuses(runSim(s, 3 * HOUR, 60_000)).slice(-30)
    expect(Math.abs(repaired.reduce((sum, x) => sum + x.zeroOffsetE, 0) / repaired.length)).toBeLessThan(0.4)
  })

  it('is reproducible from its seed, goes offline and powers on again', () => {
    const a = sim(17)
    const b = sim(17)
    expect([...a.drain(), ...runSim(a, 12 * HOUR, 30_000)]).toEqual([
      ...b.drain(),
      ...runSim(b, 12 * HOUR, 30_000),
    ])
    a.inject({ type: 'offline', durationMs: 5 * 60_000 })
    const t0 = a.now()
    const msgs = runSim(a, 10 * 60_000)
    expect(msgs.every((m) => m.payload.ts >= t0 + 5 * 60_000)).toBe(true)
    expect(events(msgs)[0]).toMatchObject({ code: 'power_on', ts: t0 + 5 * 60_000 })
    a.inject({ type: 'self_check_failed', reason: 'adc' })
    expect(events(a.drain())).toMatchObject([{ code: 'self_check_failed', detail: { reason: 'adc' } }])
  })
})
