import { Point } from '@influxdata/influxdb-client'
import { describe, expect, it } from 'vitest'
import { decodeMessage, type Reading } from '../domain/reading.ts'
import type { DeviceContext } from '../domain/registry-types.ts'
import { uplinkTopic } from '../domain/topics.ts'
import {
  alertChangeLine,
  alertChangeTimeUs,
  createLineEncoder,
  healthLine,
  READING_FIELDS,
  readingTimeUs,
} from './line-protocol.ts'

const context: DeviceContext = {
  device: {
    id: 'el-1',
    kind: 'elevator',
    siteId: 'st 1',
    tenantId: 'tn,1',
    name: null,
    statusPeriodS: 5,
    inService: true,
    createdAt: 1,
    registrationCode: '12345678901234567890',
    ratedSpeedMps: 1.75,
    floors: 20,
    lastInspectionOn: null,
    nextInspectionDue: null,
    lastMaintenanceAt: null,
  },
  site: {
    id: 'st 1',
    name: 'Hanzheng market',
    category: 'market',
    address: 'x',
    operatorTenantId: null,
    createdAt: 1,
  },
  tenant: { id: 'tn,1', name: 'Firm', kind: 'maintenance_firm', contact: null, createdAt: 1 },
}

const status = {
  ts: 1_790_000_000_123,
  seq: 12_345,
  mode: 'normal',
  floor: 3,
  levelled: true,
  doorZone: true,
  direction: 'stopped',
  speed: 0,
  door: 'closed',
  occupied: false,
  load: 0.25,
  safetyCircuit: true,
  doorLock: true,
  power: true,
  alarmButton: false,
}

function decode(type: Parameters<typeof uplinkTopic>[0], payload: unknown, deviceId = 'el-1'): Reading {
  const result = decodeMessage(
    uplinkTopic(type, deviceId),
    Buffer.from(JSON.stringify(payload)),
    1_790_000_000_500,
  )
  if (!result.ok) throw new Error(result.rejection.message)
  return result.reading
}

// The same reading written through the client library's Point.
function viaPoint(reading: Reading, ctx: DeviceContext): string | undefined {
  const point = new Point(reading.type)
    .tag('device_id', ctx.device.id)
    .tag('site_id', ctx.site.id)
    .tag('tenant_id', ctx.tenant.id)
    .tag('site_category', ctx.site.category)
    .intField('seq', reading.data.seq)
    .intField('received_at', reading.receivedAt)
    .timestamp(String(readingTimeUs(reading.data.ts, reading.data.seq)))
  if ('code' in reading.data) point.tag('code', reading.data.code)
  const data: Record<string, unknown> = reading.data
  for (const spec of READING_FIELDS[reading.type]) {
    const value = data[spec.key]
    if (value === undefined) continue
    if (spec.kind === 'bool') point.booleanField(spec.field, value)
    if (spec.kind === 'int') point.intField(spec.field, value)
    if (spec.kind === 'float') point.floatField(spec.field, value)
    if (spec.kind === 'string') point.stringField(spec.field, value)
    if (spec.kind === 'json') point.stringField(spec.field, JSON.stringify(value))
  }
  return point.toLineProtocol()
}

describe('line protocol', () => {
  const encoder = createLineEncoder()

  it.each([
    ['elevator_status', status],
    ['elevator_event', { ts: status.ts, seq: 3, code: 'trapped', detail: { floor: 3, note: 'a "b", c=d' } }],
    ['elevator_event', { ts: status.ts, seq: 4, code: 'alarm_button' }],
  ] as const)('writes %s exactly as Point does', (type, payload) => {
    const reading = decode(type, payload)
    expect(encoder.reading(reading, context)).toBe(viaPoint(reading, context))
  })

  it.each([
    [
      'scale_status',
      {
        ts: status.ts,
        seq: 1,
        zeroOffsetE: -0.5,
        sealIntact: true,
        paramCounter: 4,
        calibrationCounter: 2,
        firmware: 'v1 "x"',
      },
    ],
    [
      'scale_weighing',
      {
        ts: status.ts,
        seq: 2,
        grossKg: 2.5,
        tareKg: 0.1,
        netKg: 2.4,
        unitPriceCny: 12,
        amountCny: 28.8,
        stable: true,
      },
    ],
    ['scale_event', { ts: status.ts, seq: 9, code: 'case_opened', detail: {} }],
  ] as const)('writes %s exactly as Point does', (type, payload) => {
    const scaleContext: DeviceContext = {
      ...context,
      device: {
        ...context.device,
        id: 'sc-1',
        kind: 'scale',
        certificateNo: 'c',
        accuracyClass: 'III',
        maxKg: 30,
        eG: 5,
        lastVerificationOn: null,
        nextVerificationDue: null,
      },
    }
    const reading = decode(type, payload, 'sc-1')
    expect(encoder.reading(reading, scaleContext)).toBe(viaPoint(reading, scaleContext))
  })

  it('tags only low-cardinality facts, and types fields as the protocol does', () => {
    const line = encoder.reading(decode('elevator_status', status), context)
    const series = 'elevator_status,device_id=el-1,site_category=market,site_id=st\\ 1,tenant_id=tn\\,1'
    expect(line.startsWith(`${series} `)).toBe(true)
    const [fields, time] = line.slice(series.length + 1).split(' ')
    expect(fields).toContain('seq=12345i')
    expect(fields).toContain('received_at=1790000000500i')
    expect(fields).toContain('floor=3i')
    expect(fields).toMatch(/(^|,)speed=0(,|$)/)
    expect(fields).toContain('door="closed"')
    expect(fields).toContain('levelled=T')
    expect(time).toBe('1790000000123345')
  })

  it('escapes quotes and backslashes in string fields, and keeps a reading on one line', () => {
    const scale = { ...context, device: { ...context.device, id: 'sc-1', kind: 'scale' } } as DeviceContext
    const base = {
      ts: status.ts,
      seq: 1,
      zeroOffsetE: 0,
      sealIntact: true,
      paramCounter: 1,
      calibrationCounter: 1,
    }
    const line = (firmware: string) =>
      encoder.reading(decode('scale_status', { ...base, firmware }, 'sc-1'), scale)
    expect(line('fw 2.4')).toContain('firmware="fw 2.4"')
    expect(line('a\\b "c"')).toContain('firmware="a\\\\b \\"c\\""')
    expect(line('a\r\nb\nc')).toContain('firmware="a  b c"')
    expect(line('a\r\nb\nc').split('\n')).toHaveLength(1)
  })

  it('keeps two readings of one millisecond apart, and a redelivery on its own point', () => {
    expect(readingTimeUs(status.ts, 1)).not.toBe(readingTimeUs(status.ts, 2))
    expect(readingTimeUs(status.ts, 1)).toBe(readingTimeUs(status.ts, 1))
    expect(readingTimeUs(4_102_444_800_000, Number.MAX_SAFE_INTEGER)).toBeLessThan(Number.MAX_SAFE_INTEGER)
  })

  it('writes alert changes and health points', () => {
    const change = {
      alertId: 'al-1',
      transition: 'raised',
      type: 'trapped',
      severity: 'critical',
      status: 'open',
      deviceId: 'el-1',
      siteId: null,
      tenantId: 'tn-1',
      siteCategory: 'mall',
      count: 1,
      at: 1_790_000_000_000,
      actor: 'system',
    } as const
    expect(alertChangeLine(change)).toBe(
      `alert_change,device_id=el-1,severity=critical,site_category=mall,status=open,tenant_id=tn-1,transition=raised,type=trapped actor="system",alert_id="al-1",count=1i ${alertChangeTimeUs(change)}`,
    )
    expect(
      healthLine(
        'platform_ingest',
        { instance: 'h:1' },
        [
          { name: 'written', kind: 'int', value: 5 },
          { name: 'batch_size_avg', kind: 'float', value: 2 },
        ],
        1000,
      ),
    ).toBe('platform_ingest,instance=h:1 batch_size_avg=2,written=5i 1000000')
  })
})
