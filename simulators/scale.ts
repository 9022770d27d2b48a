/**
 * A simulated market scale (电子计价秤): a vendor's weighings through the market day, the zero offset
 * drifting between zero operations, status every `statusPeriodS`, and the tampering seen in the field
 * (case opened and seal broken, unlock, parameter and calibration changes, a cheat mode that adds
 * 10-20%). Pure, in ticks of fake time, like the elevator.
 */
import type { ScaleStatus } from '../domain/protocol.ts'
import type { Rng } from './random.ts'
import {
  chanceWithin,
  createOutbox,
  createSimClock,
  drawRange,
  hourlyProfile,
  MINUTE_MS,
  nextArrival,
  type Range,
  round,
  simControls,
} from './sim-core.ts'

export const SCALE_TAMPER_KINDS = [
  'case_opened',
  'unlock',
  'param_changed',
  'calibration_changed',
  'sequence',
] as const
/** `case_opened` also breaks the seal; `sequence` plays the whole field pattern over a few minutes. */
export type ScaleTamperKind = (typeof SCALE_TAMPER_KINDS)[number]

export type ScaleInjection =
  | { type: 'tamper'; kind: ScaleTamperKind }
  /** Weighings read `factor` times the true weight (a hidden receiver adds 10-20%); off with enabled false. */
  | { type: 'cheat'; factor?: number; enabled?: boolean }
  /** A failing load cell: the zero sits at `offsetE` and creeps back there after each zero operation. */
  | { type: 'zero_drift'; offsetE: number }
  | { type: 'self_check_failed'; reason?: string }
  /** Repaired and re-verified: seal intact, cheat removed, lock lifted, load cell sound again. */
  | { type: 'reseal' }
  | { type: 'offline'; durationMs: number }

export type ScaleSimOptions = {
  /** Seconds between status messages. */
  statusPeriodS: number
  tickMs: number
  /** Weighings per hour at the busiest market hour. */
  weighingsPerHourPeak: number
  /** Share of that peak by hour of the day (Asia/Shanghai), 24 values: a wet market's day by default. */
  marketHours: readonly number[]
  /** Random tamper sequences, per scale per hour. */
  tamperPerHour: number
  selfCheckFailPerHour: number
  offlinePerHour: number
  offlineMs: Range
  /** Standard deviation of the zero-offset random walk per minute, in e. */
  zeroDriftStepE: number
  /**
   * Share of the offset the indicator's zero tracking pulls back per minute. With 0.03 e/min this
   * keeps the offset's spread near 0.12 e, so a scale strays beyond +-0.5 e only now and then.
   */
  zeroDriftReversionPerMin: number
  /** Share of scales that start in cheat mode. */
  cheatShare: number
  /** Delay between the steps of a tamper sequence. */
  tamperStepMs: Range
  seqStart?: number
}

/** Share of the peak weighing rate by hour (Asia/Shanghai): a wet market opens at 6 and slows after 19. */
const MARKET_PROFILE = [
  0, 0, 0, 0, 0, 0.05, 0.6, 1, 1, 0.8, 0.6, 0.5, 0.3, 0.25, 0.3, 0.5, 0.8, 0.9, 0.8, 0.3, 0.1, 0.02, 0, 0,
]

/** With 300 scales: a tamper sequence about every 20 minutes fleet-wide, a self-check failure every ~40. */
export const DEFAULT_SCALE_OPTIONS: ScaleSimOptions = {
  statusPeriodS: 60,
  tickMs: 1000,
  weighingsPerHourPeak: 40,
  marketHours: MARKET_PROFILE,
  tamperPerHour: 0.01,
  selfCheckFailPerHour: 0.005,
  offlinePerHour: 0.005,
  offlineMs: [2 * MINUTE_MS, 10 * MINUTE_MS],
  zeroDriftStepE: 0.03,
  zeroDriftReversionPerMin: 0.03,
  cheatShare: 0.02,
  tamperStepMs: [20_000, 90_000],
}

export type ScaleSpec = {
  id: string
  /** Maximum capacity (15 or 30 kg for a market price-computing scale). */
  maxKg: number
  /** Verification interval e in grams. */
  eG: number
  statusPeriodS?: number
}

type Goods = { name: string; priceCny: Range; medianKg: number }

export const STALL_KINDS = ['vegetables', 'fruit', 'pork', 'fish', 'poultry_eggs', 'tofu_dry'] as const
export type StallKind = (typeof STALL_KINDS)[number]

/** What stalls sell, with retail prices in CNY/kg (Wuhan wet markets) and a typical purchase. */
export const STALLS: Record<StallKind, readonly Goods[]> = {
  vegetables: [
    { name: '青菜', priceCny: [4, 8], medianKg: 0.6 },
    { name: '土豆', priceCny: [3, 5], medianKg: 1.0 },
    { name: '西红柿', priceCny: [6, 10], medianKg: 0.8 },
    { name: '黄瓜', priceCny: [5, 8], medianKg: 0.6 },
    { name: '莲藕', priceCny: [8, 14], medianKg: 1.2 },
    { name: '洪山菜薹', priceCny: [10, 20], medianKg: 0.5 },
  ],
  fruit: [
    { name: '苹果', priceCny: [8, 14], medianKg: 1.5 },
    { name: '香蕉', priceCny: [6, 10], medianKg: 1.2 },
    { name: '柑橘', priceCny: [6, 12], medianKg: 1.5 },
    { name: '葡萄', priceCny: [12, 24], medianKg: 0.8 },
  ],
  pork: [
    { name: '猪肉', priceCny: [26, 36], medianKg: 0.8 },
    { name: '排骨', priceCny: [40, 56], medianKg: 1.0 },
    { name: '猪蹄', priceCny: [30, 40], medianKg: 1.2 },
  ],
  fish: [
    { name: '鲫鱼', priceCny: [16, 24], medianKg: 0.8 },
    { name: '草鱼', priceCny: [14, 20], medianKg: 1.5 },
    { name: '武昌鱼', priceCny: [20, 30], medianKg: 1.0 },
    { name: '鲈鱼', priceCny: [36, 50], medianKg: 0.7 },
  ],
  poultry_eggs: [
    { name: '鸡蛋', priceCny: [9, 14], medianKg: 1.5 },
    { name: '鸡肉', priceCny: [18, 28], medianKg: 1.2 },
  ],
  tofu_dry: [
    { name: '豆腐', priceCny: [6, 9], medianKg: 0.5 },
    { name: '热干面(碱面)', priceCny: [6, 10], medianKg: 1.0 },
    { name: '大米', priceCny: [5, 8], medianKg: 2.5 },
  ],
}

const STALL_WEIGHTS: Record<StallKind, number> = {
  vegetables: 35,
  fruit: 20,
  pork: 15,
  fish: 12,
  poultry_eggs: 10,
  tofu_dry: 8,
}

const FIRMWARE = ['ACS-30 2.3.1', 'ACS-30 2.4.0', 'TCS-15 1.8.2', 'JCS-30 3.0.5'] as const

export type ScaleSim = ReturnType<typeof createScaleSim>

/** Creates one scale. Pure: `advance(t)` moves fake time; `inject()` applies at `now()`. */
export function createScaleSim(args: {
  spec: ScaleSpec
  rng: Rng
  startAt: number
  options?: Partial<ScaleSimOptions>
}) {
  const { spec, rng } = args
  const o: ScaleSimOptions = { ...DEFAULT_SCALE_OPTIONS, ...args.options }
  const eKg = spec.eG / 1000
  const outbox = createOutbox(o.seqStart ?? Math.round(args.startAt))

  const stall = rng.weighted(STALL_WEIGHTS)
  const goods = STALLS[stall].map((g) => ({
    ...g,
    // A stall's prices are set for the day, to the jiao.
    price: round(drawRange(rng, g.priceCny), 1),
  }))
  const clock = createSimClock({
    startAt: args.startAt,
    tickMs: o.tickMs,
    statusPeriodMs: (spec.statusPeriodS ?? o.statusPeriodS) * 1000,
  })
  let zeroOffsetE = rng.normal(0, 0.1)
  /** Where the zero settles: 0 for a sound load cell. */
  let zeroBiasE = 0
  let sealIntact = true
  let locked = false
  let paramCounter = rng.int(1, 20)
  let calibrationCounter = rng.int(1, 5)
  const firmware = rng.pick(FIRMWARE)
  let cheatFactor: number | null = rng.chance(o.cheatShare) ? rng.uniform(1.1, 1.2) : null
  let lastKey = ''
  const tamperSteps: { at: number; kind: Exclude<ScaleTamperKind, 'sequence'> | 'cheat' }[] = []
  const next = {
    tamper: nextArrival(rng, clock.now(), o.tamperPerHour),
    selfCheck: nextArrival(rng, clock.now(), o.selfCheckFailPerHour),
    offline: nextArrival(rng, clock.now(), o.offlinePerHour),
  }
  let wasOffline = false

  const toE = (kg: number): number => Math.round(kg / eKg) * eKg
  const kg = (value: number): number => round(value, 4)

  function currentStatus(): Omit<ScaleStatus, 'ts' | 'seq'> {
    return { zeroOffsetE: round(zeroOffsetE, 2), sealIntact, paramCounter, calibrationCounter, firmware }
  }

  function emitStatus(t: number): void {
    const s = currentStatus()
    lastKey = `${s.sealIntact}|${s.paramCounter}|${s.calibrationCounter}|${s.firmware}`
    clock.statusSent(t)
    outbox.scaleStatus(t, s)
  }

  function event(
    t: number,
    code: Parameters<typeof outbox.scaleEvent>[1]['code'],
    detail?: Record<string, unknown>,
  ) {
    outbox.scaleEvent(t, detail === undefined ? { code } : { code, detail })
  }

  function weigh(t: number): void {
    const item = rng.pick(goods)
    if (rng.chance(0.04)) {
      event(t, 'zero', { previousOffsetE: round(zeroOffsetE, 2) })
      zeroOffsetE = 0
    }
    let tareKg = 0
    if (rng.chance(0.12)) {
      // A bag, a basket or a tray.
      tareKg = toE(rng.uniform(0.01, 0.3))
      event(t, 'tare', { tareKg: kg(tareKg) })
    }
    const trueNet = Math.min(Math.max(rng.logNormal(item.medianKg, 0.6), 0.05), spec.maxKg * 0.9 - tareKg)
    const shown = trueNet * (cheatFactor ?? 1)
    // The indication carries the zero offset; it is quantised to e like any digital indicator.
    const grossKg = toE(Math.min(shown + tareKg + zeroOffsetE * eKg, spec.maxKg))
    const netKg = kg(grossKg - tareKg)
    outbox.scaleWeighing(t, {
      grossKg: kg(grossKg),
      tareKg: kg(tareKg),
      netKg,
      unitPriceCny: item.price,
      amountCny: round(netKg * item.price, 2),
      stable: rng.chance(0.96),
    })
  }

  function tamper(t: number, kind: ScaleTamperKind | 'cheat'): void {
    switch (kind) {
      case 'case_opened':
        event(t, 'case_opened')
        if (sealIntact) event(t, 'seal_broken')
        sealIntact = false
        // 2026 type-evaluation rule: a scale locks itself when its case is opened.
        locked = true
        break
      case 'unlock':
        locked = false
        event(t, 'unlock', { operatorCode: String(rng.int(1000, 9999)), method: 'dynamic_password' })
        break
      case 'param_changed':
        paramCounter++
        event(t, 'param_changed', {
          paramCounter,
          param: rng.pick(['span', 'zero_range', 'filter', 'motion']),
        })
        break
      case 'calibration_changed':
        calibrationCounter++
        event(t, 'calibration_changed', { calibrationCounter })
        break
      case 'cheat':
        cheatFactor = rng.uniform(1.1, 1.2)
        return
      case 'sequence': {
        // Case opened, unlocked, a parameter changed, often a calibration, and often a cheat left behind.
        tamper(t, 'case_opened')
        let at = t
        const later = (k: (typeof tamperSteps)[number]['kind']) => {
          at += drawRange(rng, o.tamperStepMs)
          tamperSteps.push({ at, kind: k })
        }
        later('unlock')
        later('param_changed')
        if (rng.chance(0.5)) later('calibration_changed')
        if (rng.chance(0.5)) later('cheat')
        return
      }
    }
    emitStatus(t)
  }

  function applyInjection(t: number, inj: ScaleInjection): void {
    switch (inj.type) {
      case 'tamper':
        tamper(t, inj.kind)
        break
      case 'cheat':
        cheatFactor = inj.enabled === false ? null : (inj.factor ?? rng.uniform(1.1, 1.2))
        break
      case 'zero_drift':
        zeroOffsetE = inj.offsetE
        zeroBiasE = inj.offsetE
        emitStatus(t)
        break
      case 'self_check_failed':
        event(t, 'self_check_failed', { reason: inj.reason ?? rng.pick(['load_cell', 'adc', 'memory']) })
        break
      case 'reseal':
        zeroBiasE = 0
        sealIntact = true
        locked = false
        cheatFactor = null
        emitStatus(t)
        break
      case 'offline':
        outbox.setOfflineUntil(t + inj.durationMs)
        break
    }
  }

  function step(t: number): void {
    while (tamperSteps.length > 0 && (tamperSteps[0]?.at ?? Number.POSITIVE_INFINITY) <= t) {
      const s = tamperSteps.shift()
      if (s) tamper(t, s.kind)
    }
    const offline = outbox.isOffline(t)
    if (t >= next.tamper) {
      next.tamper = nextArrival(rng, t, o.tamperPerHour)
      if (!offline && sealIntact) tamper(t, 'sequence')
    }
    if (t >= next.selfCheck) {
      next.selfCheck = nextArrival(rng, t, o.selfCheckFailPerHour)
      if (!offline) applyInjection(t, { type: 'self_check_failed' })
    }
    if (t >= next.offline) {
      next.offline = nextArrival(rng, t, o.offlinePerHour)
      if (!offline) outbox.setOfflineUntil(t + drawRange(rng, o.offlineMs))
    }
    if (!offline && !locked) {
      const rate = o.weighingsPerHourPeak * hourlyProfile(o.marketHours, t)
      if (rate > 0 && rng.chance(chanceWithin(rate, o.tickMs))) weigh(t)
    }
    if (wasOffline && !offline) {
      // Powered up again: say so and report at once.
      event(t, 'power_on', { firmware })
      clock.statusDueAt(t)
    }
    wasOffline = offline
    if (clock.isStatusDue(t)) {
      // Load cells creep with temperature: a slow random walk between zero operations.
      const minutes = clock.statusPeriodMs() / MINUTE_MS
      const pull = Math.min(1, o.zeroDriftReversionPerMin * minutes)
      zeroOffsetE += pull * (zeroBiasE - zeroOffsetE) + rng.normal(0, o.zeroDriftStepE * Math.sqrt(minutes))
      emitStatus(t)
    } else {
      const s = currentStatus()
      if (`${s.sealIntact}|${s.paramCounter}|${s.calibrationCounter}|${s.firmware}` !== lastKey) emitStatus(t)
    }
  }

  event(clock.now(), 'power_on', { firmware })
  emitStatus(clock.now())

  return {
    kind: 'scale' as const,
    id: spec.id,
    spec,
    ...simControls(clock, outbox, { step, applyInjection, emitStatus, currentStatus }),
    isCheating: (): boolean => cheatFactor !== null,
    isLocked: (): boolean => locked,
    stall,
  }
}
