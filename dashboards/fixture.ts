/**
 * Data for the dashboards' proof test, as the platform writes it: the simulators' elevator and scale
 * models (simulators/) produce protocol v1 messages over a few hours of fake time, and ingest's own
 * line encoder (ingest/line-protocol.ts) turns them into the lines InfluxDB stores. Alert changes use
 * ingest's encoder too. Two measurements ingest does not produce from device messages are written here
 * from their documented shape: `alerts_active` (the alerts service's snapshot) and the health points.
 *
 * The fleet is small but complete: every site has elevators and scales, every site sees faults, a
 * trapped passenger, tamper events, a scale beyond +-0.5e and verification alerts, so that a dashboard
 * narrowed to one site still has something in every panel. One site id has a dot, which a regex must
 * escape.
 */
import type { AlertChange, AlertSeverity } from '../domain/alert-change.ts'
import type { Reading } from '../domain/reading.ts'
import type {
  DeviceContext,
  Elevator,
  Scale,
  Site,
  SiteCategory,
  Tenant,
  TenantKind,
} from '../domain/registry-types.ts'
import { alertChangeLine, createLineEncoder, healthLine } from '../ingest/line-protocol.ts'
import { createElevatorSim } from '../simulators/elevator.ts'
import { createRng } from '../simulators/random.ts'
import { createScaleSim } from '../simulators/scale.ts'
import type { SimMessage } from '../simulators/sim-core.ts'

const MINUTE = 60_000
const OPEN_ALL_DAY: readonly number[] = Array.from({ length: 24 }, () => 0.5)

type SiteSpec = { id: string; category: SiteCategory; operator: string; firms: readonly string[] }

const TENANTS: Array<{ id: string; kind: TenantKind }> = [
  { id: 'firm-a', kind: 'maintenance_firm' },
  { id: 'firm-b', kind: 'maintenance_firm' },
  { id: 'market-op', kind: 'site_operator' },
  { id: 'mall-op', kind: 'site_operator' },
]

const SITES: SiteSpec[] = [
  { id: 'qk-market.1', category: 'market', operator: 'market-op', firms: ['firm-a', 'firm-b'] },
  { id: 'qk-mall-2', category: 'mall', operator: 'mall-op', firms: ['firm-b', 'firm-a'] },
]

export type Fixture = {
  /** Line protocol, microsecond precision (`precision=u` on the 1.x /write). */
  lines: string[]
  startMs: number
  endMs: number
  contexts: DeviceContext[]
}

function tenant(id: string, kind: TenantKind): Tenant {
  return { id, name: id, kind, contact: null, createdAt: 0 }
}

/** The reading a broker decode of the message produces (received 40 ms after the device's clock). */
function toReading(message: SimMessage, deviceId: string): Reading {
  const receivedAt = message.payload.ts + 40
  switch (message.type) {
    case 'elevator_status':
      return { type: message.type, kind: 'elevator', deviceId, receivedAt, data: message.payload }
    case 'elevator_event':
      return { type: message.type, kind: 'elevator', deviceId, receivedAt, data: message.payload }
    case 'scale_status':
      return { type: message.type, kind: 'scale', deviceId, receivedAt, data: message.payload }
    case 'scale_weighing':
      return { type: message.type, kind: 'scale', deviceId, receivedAt, data: message.payload }
    case 'scale_event':
      return { type: message.type, kind: 'scale', deviceId, receivedAt, data: message.payload }
  }
}

/**
 * Simulates the fleet from `endMs - hours` to `endMs` and returns every line the platform would store.
 * Deterministic for a given `endMs` and seed.
 */
export function buildFixture(options: { endMs: number; hours: number; seed?: string }): Fixture {
  const endMs = options.endMs
  const startMs = endMs - options.hours * 60 * MINUTE
  const rng = createRng(options.seed ?? 'dashboards-fixture')
  const encoder = createLineEncoder()
  const lines: string[] = []
  const contexts: DeviceContext[] = []
  const tenants = new Map(TENANTS.map((t) => [t.id, tenant(t.id, t.kind)]))
  const changes: AlertChange[] = []
  const at = (fraction: number): number => Math.round(startMs + (endMs - startMs) * fraction)

  function run(
    sim: { advance(t: number): SimMessage[] },
    context: DeviceContext,
    injections: Array<{ at: number; apply: () => void }>,
  ): void {
    for (const injection of [...injections].sort((a, b) => a.at - b.at)) {
      for (const m of sim.advance(injection.at))
        lines.push(encoder.reading(toReading(m, context.device.id), context))
      injection.apply()
    }
    for (const m of sim.advance(endMs)) lines.push(encoder.reading(toReading(m, context.device.id), context))
  }

  function alert(
    context: DeviceContext,
    type: string,
    severity: AlertSeverity,
    raisedAt: number,
    resolvedAt: number | null,
  ): void {
    const base = {
      alertId: `al-${context.device.id}-${type}-${raisedAt}`,
      type,
      severity,
      deviceId: context.device.id,
      siteId: context.site.id,
      tenantId: context.tenant.id,
      siteCategory: context.site.category,
      count: 1,
    }
    changes.push({ ...base, transition: 'raised', status: 'open', at: raisedAt, actor: 'system' })
    changes.push({
      ...base,
      transition: 'acknowledged',
      status: 'acknowledged',
      at: raisedAt + MINUTE,
      actor: 'duty-1',
    })
    if (resolvedAt !== null) {
      changes.push({ ...base, transition: 'resolved', status: 'resolved', at: resolvedAt, actor: 'system' })
    }
  }

  for (const [s, spec] of SITES.entries()) {
    const site: Site = {
      id: spec.id,
      name: spec.id,
      category: spec.category,
      address: 'Qiaokou, Wuhan',
      operatorTenantId: spec.operator,
      createdAt: 0,
    }
    for (const [i, firm] of spec.firms.entries()) {
      const device: Elevator = {
        id: `elv-${s}${i}`,
        kind: 'elevator',
        siteId: site.id,
        tenantId: firm,
        name: null,
        statusPeriodS: 5,
        inService: true,
        createdAt: 0,
        registrationCode: `3110420100201900${s}${i}01`,
        ratedSpeedMps: 1.75,
        floors: 12,
        lastInspectionOn: null,
        nextInspectionDue: null,
        lastMaintenanceAt: null,
      }
      const context: DeviceContext = {
        device,
        site,
        tenant: tenants.get(firm) ?? tenant(firm, 'maintenance_firm'),
      }
      contexts.push(context)
      const sim = createElevatorSim({
        spec: { id: device.id, ratedSpeedMps: 1.75, floors: 12 },
        rng: rng.fork(device.id),
        startAt: startMs,
        // Incidents come from the injections below, so that every site is sure to have them.
        options: { faultsPerHour: 0, trappedPerHour: 0, offlinePerHour: 0, modeChangesPerHour: 0 },
      })
      run(sim, context, [
        {
          at: at(0.2 + 0.1 * i),
          apply: () => sim.inject({ type: 'fault', code: 'door_close_fault', clearAfterMs: 3 * MINUTE }),
        },
        {
          at: at(0.35),
          apply: () => sim.inject({ type: 'fault', code: 'safety_circuit_open', clearAfterMs: 2 * MINUTE }),
        },
        {
          at: at(0.5),
          apply: () => sim.inject({ type: 'mode', mode: 'inspection', durationMs: 10 * MINUTE }),
        },
        {
          at: at(0.6 + 0.05 * i),
          apply: () =>
            sim.inject({
              type: 'trapped',
              sendTrappedEvent: true,
              trappedEventAfterMs: 25_000,
              releaseAfterMs: 9 * MINUTE,
            }),
        },
      ])
      alert(context, 'door_close_fault', 'major', at(0.2 + 0.1 * i), at(0.2 + 0.1 * i) + 3 * MINUTE)
      alert(context, 'trapped', 'critical', at(0.6 + 0.05 * i) + 25_000, at(0.6 + 0.05 * i) + 9 * MINUTE)
    }
    for (let i = 0; i < 3; i++) {
      const device: Scale = {
        id: `scl-${s}${i}`,
        kind: 'scale',
        siteId: site.id,
        tenantId: spec.operator,
        name: null,
        statusPeriodS: 60,
        inService: true,
        createdAt: 0,
        certificateNo: `JL-${s}${i}`,
        accuracyClass: 'III',
        maxKg: 15,
        eG: 5,
        lastVerificationOn: null,
        nextVerificationDue: null,
      }
      const context: DeviceContext = {
        device,
        site,
        tenant: tenants.get(spec.operator) ?? tenant(spec.operator, 'site_operator'),
      }
      contexts.push(context)
      const sim = createScaleSim({
        spec: { id: device.id, maxKg: 15, eG: 5 },
        rng: rng.fork(device.id),
        startAt: startMs,
        // Open round the clock: the test's six hours end at the wall clock's now, and a wet market's
        // night (22:00-05:00 in Wuhan) would leave the weighing panels empty when CI runs then.
        options: { tamperPerHour: 0, offlinePerHour: 0, weighingsPerHourPeak: 60, marketHours: OPEN_ALL_DAY },
      })
      const injections = [
        { at: at(0.3 + 0.1 * i), apply: () => sim.inject({ type: 'tamper', kind: 'sequence' }) },
      ]
      // One scale per site drifts beyond the +-0.5e band of JJG 539.
      if (i === 0)
        injections.push({ at: at(0.45), apply: () => sim.inject({ type: 'zero_drift', offsetE: 0.9 }) })
      run(sim, context, injections)
      alert(context, 'case_opened', 'major', at(0.3 + 0.1 * i), null)
    }
  }

  for (const change of changes) lines.push(alertChangeLine(change))
  lines.push(...alertsActiveSnapshots(startMs, endMs))
  lines.push(...healthPoints(startMs, endMs))
  return { lines, startMs, endMs, contexts }
}

/**
 * `alerts_active` every minute, per group (type, severity, site, tenant, category, kind): the shape the
 * alerts service is asked to write (see docs/deployment.md, "Measurements the dashboards read").
 */
function alertsActiveSnapshots(startMs: number, endMs: number): string[] {
  const out: string[] = []
  for (let t = startMs; t <= endMs; t += MINUTE) {
    const late = t > startMs + (endMs - startMs) / 2
    for (const spec of SITES) {
      const groups: Array<{
        type: string
        severity: AlertSeverity
        kind: string
        tenant: string
        active: number
      }> = [
        {
          type: 'verification_overdue',
          severity: 'major',
          kind: 'scale',
          tenant: spec.operator,
          active: late ? 2 : 1,
        },
        { type: 'verification_due', severity: 'warning', kind: 'scale', tenant: spec.operator, active: 1 },
        { type: 'case_opened', severity: 'major', kind: 'scale', tenant: spec.operator, active: 3 },
        {
          type: 'maintenance_overdue',
          severity: 'warning',
          kind: 'elevator',
          tenant: spec.firms[0] ?? 'firm-a',
          active: 1,
        },
      ]
      for (const g of groups) {
        const line = healthLine(
          'alerts_active',
          {
            type: g.type,
            severity: g.severity,
            site_id: spec.id,
            tenant_id: g.tenant,
            site_category: spec.category,
            kind: g.kind,
          },
          [
            { name: 'active', kind: 'int', value: g.active },
            { name: 'unacknowledged', kind: 'int', value: 0 },
          ],
          t,
        )
        if (line !== null) out.push(line)
      }
    }
  }
  return out
}

/** Ingest's health points every 10 s, counters growing since a start, two dead-letter reasons. */
function healthPoints(startMs: number, endMs: number): string[] {
  const out: string[] = []
  let received = 0
  let written = 0
  let schema = 0
  let unknownTopic = 0
  for (let t = startMs, n = 0; t <= endMs; t += 10_000, n++) {
    received += 400 + (n % 7) * 10
    written = received - 5
    if (n % 30 === 0) schema++
    if (n % 90 === 0) unknownTopic++
    const line = healthLine(
      'platform_ingest',
      { instance: 'liftscale-1' },
      [
        { name: 'received', kind: 'int', value: received },
        { name: 'written', kind: 'int', value: written },
        { name: 'spooled', kind: 'int', value: n > 100 && n < 120 ? n * 50 : 0 },
        { name: 'spool_depth_lines', kind: 'int', value: n > 100 && n < 120 ? 300 : 0 },
        { name: 'spool_age_s', kind: 'float', value: n > 100 && n < 120 ? (n - 100) * 10 : 0 },
        { name: 'dead_letters', kind: 'int', value: schema + unknownTopic },
        { name: 'batch_size_avg', kind: 'float', value: 37.5 },
        { name: 'write_latency_p50_ms', kind: 'float', value: 4.2 },
        { name: 'write_latency_p99_ms', kind: 'float', value: 18 + (n % 11) },
        { name: 'influx_up', kind: 'int', value: 1 },
      ],
      t,
    )
    if (line !== null) out.push(line)
    // A morning peak: the loop busier and more devices connected from 07:00 on (n counts 10 s steps).
    const peak = n % 360 > 180 ? 1 : 0
    const processLine = healthLine(
      'platform_process',
      { instance: 'liftscale-1' },
      [
        { name: 'event_loop_utilization', kind: 'float', value: 0.2 + 0.25 * peak + (n % 5) * 0.01 },
        { name: 'event_loop_delay_p99_ms', kind: 'float', value: 12 + 30 * peak },
        { name: 'open_files', kind: 'int', value: 18_000 + 1_500 * peak },
        { name: 'open_files_limit', kind: 'int', value: 131_072 },
        { name: 'rss_mib', kind: 'float', value: 760 + 40 * peak },
        { name: 'heap_used_mib', kind: 'float', value: 420 + (n % 9) * 5 },
      ],
      t,
    )
    if (processLine !== null) out.push(processLine)
    for (const [reason, count] of [
      ['schema', schema],
      ['unknown_topic', unknownTopic],
    ] as const) {
      const dl = healthLine(
        'platform_dead_letters',
        { instance: 'liftscale-1', reason },
        [{ name: 'count', kind: 'int', value: count }],
        t,
      )
      if (dl !== null) out.push(dl)
    }
  }
  return out
}
