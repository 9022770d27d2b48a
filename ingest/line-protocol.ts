/**
 * InfluxDB line protocol for readings, alert changes and ingest's own health (docs/storage.md is the
 * prose form of this file). Escaping is the client library's own (`escape` of
 * @influxdata/influxdb-client); the serialisation is done here rather than through `Point` because the
 * tags of a device are the same for every reading and are escaped once, not per message, and the
 * fields of each measurement are known in advance. line-protocol.test.ts checks that the output is
 * exactly what `Point.toLineProtocol` produces.
 */
import { escape as lineEscape } from '@influxdata/influxdb-client'
import type { ActiveAlertsSnapshot, AlertChange } from '../domain/alert-change.ts'
import type { Reading } from '../domain/reading.ts'
import type { DeviceContext } from '../domain/registry-types.ts'
import { UPLINK, type UplinkType } from '../domain/topics.ts'

/** Write precision: microseconds (`us` for the v2 API, `u` for 1.x `/write`). */
export const PRECISION = 'us'

type FieldKind = 'bool' | 'int' | 'float' | 'string' | 'json'
type FieldSpec = { key: string; field: string; kind: FieldKind }

/**
 * Payload key -> field name and type, per uplink type. Booleans stay booleans, enums are strings,
 * counts are integers, measures floats; `detail` is kept as a JSON string.
 */
export const READING_FIELDS: Record<UplinkType, readonly FieldSpec[]> = {
  elevator_status: [
    { key: 'mode', field: 'mode', kind: 'string' },
    { key: 'floor', field: 'floor', kind: 'int' },
    { key: 'levelled', field: 'levelled', kind: 'bool' },
    { key: 'doorZone', field: 'door_zone', kind: 'bool' },
    { key: 'direction', field: 'direction', kind: 'string' },
    { key: 'speed', field: 'speed', kind: 'float' },
    { key: 'door', field: 'door', kind: 'string' },
    { key: 'occupied', field: 'occupied', kind: 'bool' },
    { key: 'load', field: 'load', kind: 'float' },
    { key: 'safetyCircuit', field: 'safety_circuit', kind: 'bool' },
    { key: 'doorLock', field: 'door_lock', kind: 'bool' },
    { key: 'power', field: 'power', kind: 'bool' },
    { key: 'alarmButton', field: 'alarm_button', kind: 'bool' },
  ],
  elevator_event: [{ key: 'detail', field: 'detail', kind: 'json' }],
  scale_status: [
    { key: 'zeroOffsetE', field: 'zero_offset_e', kind: 'float' },
    { key: 'sealIntact', field: 'seal_intact', kind: 'bool' },
    { key: 'paramCounter', field: 'param_counter', kind: 'int' },
    { key: 'calibrationCounter', field: 'calibration_counter', kind: 'int' },
    { key: 'firmware', field: 'firmware', kind: 'string' },
  ],
  scale_weighing: [
    { key: 'grossKg', field: 'gross_kg', kind: 'float' },
    { key: 'tareKg', field: 'tare_kg', kind: 'float' },
    { key: 'netKg', field: 'net_kg', kind: 'float' },
    { key: 'unitPriceCny', field: 'unit_price_cny', kind: 'float' },
    { key: 'amountCny', field: 'amount_cny', kind: 'float' },
    { key: 'stable', field: 'stable', kind: 'bool' },
  ],
  scale_event: [{ key: 'detail', field: 'detail', kind: 'json' }],
}

// Every reading also carries these two fields.
const COMMON_FIELDS: readonly FieldSpec[] = [
  { key: 'seq', field: 'seq', kind: 'int' },
  { key: 'receivedAt', field: 'received_at', kind: 'int' },
]

// Fields in the order Point would write them (sorted by name), so both serialisations agree.
const byField = (a: FieldSpec, b: FieldSpec): number => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0)
// The escaped `name=` of each field, after the space that opens the field set or the comma between
// two fields, is computed once, not per message.
type PreparedField = FieldSpec & { first: string; next: string }
const sortedFields = (type: UplinkType): readonly PreparedField[] =>
  [...READING_FIELDS[type], ...COMMON_FIELDS].sort(byField).map((spec) => {
    const assign = `${lineEscape.tag(spec.field)}=`
    return { ...spec, first: ` ${assign}`, next: `,${assign}` }
  })
const SORTED_FIELDS: Record<UplinkType, readonly PreparedField[]> = {
  elevator_status: sortedFields('elevator_status'),
  elevator_event: sortedFields('elevator_event'),
  scale_status: sortedFields('scale_status'),
  scale_weighing: sortedFields('scale_weighing'),
  scale_event: sortedFields('scale_event'),
}

/** Low-cardinality tags only: never seq, never free text. */
export function deviceTags(context: DeviceContext): Record<string, string> {
  return {
    device_id: context.device.id,
    site_id: context.site.id,
    tenant_id: context.tenant.id,
    site_category: context.site.category,
  }
}

function tagString(tags: Record<string, string | null | undefined>): string {
  const parts: string[] = []
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key]
    // An empty tag value is not valid line protocol: the tag is left out.
    if (value === null || value === undefined || value === '') continue
    parts.push(',', lineEscape.tag(key), '=', lineEscape.tag(value))
  }
  return parts.join('')
}

// One reading is one physical line (the spool and the bisection of a refused batch split on '\n'):
// a raw line break inside a string field becomes a space. Most values (enums, firmware names) hold
// none of the four characters, and one test is cheaper than the two passes of replace and escape.
const NEEDS_ESCAPE = /["\\\r\n]/
const quoted = (value: string): string =>
  NEEDS_ESCAPE.test(value) ? lineEscape.quoted(value.replace(/[\r\n]/g, ' ')) : `"${value}"`

function fieldValue(kind: FieldKind, value: unknown): string | null {
  switch (kind) {
    case 'bool':
      return typeof value === 'boolean' ? (value ? 'T' : 'F') : null
    case 'int':
      return typeof value === 'number' && Number.isFinite(value) ? `${Math.floor(value)}i` : null
    case 'float':
      return typeof value === 'number' && Number.isFinite(value) ? String(value) : null
    case 'string':
      return typeof value === 'string' ? quoted(value) : null
    case 'json':
      return value === undefined || value === null ? null : lineEscape.quoted(JSON.stringify(value))
  }
}

/**
 * Point time of a reading in microseconds: the device's `ts` (ms) plus `seq % 1000` µs. A redelivered
 * message has the same ts and seq, so it lands on the same point and overwrites it; two readings of one
 * device in the same millisecond have different seqs and both survive.
 */
export function readingTimeUs(ts: number, seq: number): number {
  return ts * 1000 + (seq % 1000)
}

/** Caches the escaped `measurement,tags` prefix per device context (registry contexts are cached objects). */
export function createLineEncoder() {
  const prefixes = new WeakMap<DeviceContext, Map<string, string>>()

  function prefix(measurement: string, context: DeviceContext, extraTag: string | null): string {
    let byMeasurement = prefixes.get(context)
    if (byMeasurement === undefined) {
      byMeasurement = new Map()
      prefixes.set(context, byMeasurement)
    }
    const key = extraTag === null ? measurement : `${measurement}\u0000${extraTag}`
    let value = byMeasurement.get(key)
    if (value === undefined) {
      const tags: Record<string, string> = deviceTags(context)
      if (extraTag !== null) tags.code = extraTag
      // Kept as long as the device is: joined (V8 copies the parts into one flat string), not
      // concatenated (kept as a tree of the ~10 parts, which every full garbage collection walks
      // again: 75,000 string nodes at 4,000 devices, before).
      value = [lineEscape.measurement(measurement), tagString(tags)].join('')
      byMeasurement.set(extraTag === null ? key : [measurement, extraTag].join('\u0000'), value)
    }
    return value
  }

  return {
    /** One reading as one line. */
    reading(reading: Reading, context: DeviceContext): string {
      const data: Record<string, unknown> = reading.data
      const code = 'code' in reading.data ? reading.data.code : null
      const measurement = UPLINK[reading.type].measurement
      let line = prefix(measurement, context, code)
      let isFirst = true
      for (const spec of SORTED_FIELDS[reading.type]) {
        const value = fieldValue(spec.kind, spec.key === 'receivedAt' ? reading.receivedAt : data[spec.key])
        if (value === null) continue
        line += isFirst ? spec.first : spec.next
        line += value
        isFirst = false
      }
      // Left as V8's tree of parts: ingest copies it into its batch's bytes at once (line-batch.ts).
      return `${line} ${readingTimeUs(reading.data.ts, reading.data.seq)}`
    },
  }
}

/** Measurement `alert_change`: one point per transition of an alert. */
export function alertChangeLine(change: AlertChange): string {
  const tags = tagString({
    type: change.type,
    severity: change.severity,
    status: change.status,
    transition: change.transition,
    site_category: change.siteCategory,
    site_id: change.siteId,
    tenant_id: change.tenantId,
    device_id: change.deviceId,
  })
  const fields = [
    `actor=${quoted(change.actor)}`,
    `alert_id=${quoted(change.alertId)}`,
    `count=${change.count}i`,
  ].join(',')
  return `alert_change${tags} ${fields} ${alertChangeTimeUs(change)}`
}

/** Measurement `alerts_active`: one point per group of a snapshot, all at the snapshot's time. */
export function activeAlertsLines(snapshot: ActiveAlertsSnapshot): string[] {
  return snapshot.groups.map((g) => {
    const tags = tagString({
      type: g.type,
      severity: g.severity,
      kind: g.kind,
      site_id: g.siteId,
      tenant_id: g.tenantId,
      site_category: g.siteCategory,
    })
    return `alerts_active${tags} active=${g.active}i,unacknowledged=${g.unacknowledged}i ${snapshot.at * 1000}`
  })
}

/**
 * `at` in µs, plus an offset derived from the alert id and count: two alerts of one device with the same
 * type, status and transition in the same millisecond stay two points, and a redelivered change (same
 * id, same count) overwrites its own point.
 */
export function alertChangeTimeUs(change: Pick<AlertChange, 'at' | 'alertId' | 'count'>): number {
  let hash = 2166136261
  for (let i = 0; i < change.alertId.length; i++) {
    hash = Math.imul(hash ^ change.alertId.charCodeAt(i), 16777619) >>> 0
  }
  return change.at * 1000 + ((hash + change.count) % 1000)
}

/** A field of a health point; the type is fixed per field (InfluxDB refuses a field that changes type). */
export type HealthField = { name: string; kind: 'int' | 'float'; value: number }

/** A point of ingest's own health (`platform_ingest`, `platform_dead_letters`). */
export function healthLine(
  measurement: string,
  tags: Record<string, string>,
  fields: readonly HealthField[],
  atMs: number,
): string | null {
  const parts: string[] = []
  for (const { name, kind, value } of [...fields].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!Number.isFinite(value)) continue
    parts.push(`${lineEscape.tag(name)}=${kind === 'int' ? `${Math.round(value)}i` : String(value)}`)
  }
  if (parts.length === 0) return null
  return `${lineEscape.measurement(measurement)}${tagString(tags)} ${parts.join(',')} ${Math.round(atMs * 1000)}`
}
