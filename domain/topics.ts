/**
 * The topic table: every MQTT topic of protocol v1, its schema and its measurement, in one place.
 */
import type { z } from 'zod'
import {
  CommandSchema,
  ElevatorEventSchema,
  ElevatorStatusSchema,
  ScaleEventSchema,
  ScaleStatusSchema,
  ScaleWeighingSchema,
} from './protocol.ts'

export const PROTOCOL_PREFIX = 'v1'

export const DEVICE_KINDS = ['elevator', 'scale'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

/** Topic segment of each kind: `v1/elevators/{id}/…`, `v1/scales/{id}/…`. */
export const KIND_SEGMENT = { elevator: 'elevators', scale: 'scales' } as const satisfies Record<
  DeviceKind,
  string
>

/**
 * A device id is also its MQTT client id and username and one topic level:
 * no `/`, `+`, `#`, no spaces, at most 64 characters.
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
export const isDeviceId = (value: string): boolean => DEVICE_ID_PATTERN.test(value)

/** Uplink channels, device -> platform. */
export const UPLINK = {
  elevator_status: {
    kind: 'elevator',
    channel: 'status',
    schema: ElevatorStatusSchema,
    measurement: 'elevator_status',
  },
  elevator_event: {
    kind: 'elevator',
    channel: 'events',
    schema: ElevatorEventSchema,
    measurement: 'elevator_event',
  },
  scale_status: { kind: 'scale', channel: 'status', schema: ScaleStatusSchema, measurement: 'scale_status' },
  scale_weighing: {
    kind: 'scale',
    channel: 'weighings',
    schema: ScaleWeighingSchema,
    measurement: 'scale_weighing',
  },
  scale_event: { kind: 'scale', channel: 'events', schema: ScaleEventSchema, measurement: 'scale_event' },
} as const satisfies Record<
  string,
  { kind: DeviceKind; channel: string; schema: z.ZodType; measurement: string }
>
export type UplinkType = keyof typeof UPLINK
export const UPLINK_TYPES = Object.keys(UPLINK) as UplinkType[]

/** Downlink, platform -> device: one commands topic per device. */
export const DOWNLINK = { channel: 'commands', schema: CommandSchema } as const

const uplinkByPath = new Map<string, UplinkType>(
  UPLINK_TYPES.map((type) => [`${KIND_SEGMENT[UPLINK[type].kind]}/${UPLINK[type].channel}`, type]),
)
const kindBySegment = new Map<string, DeviceKind>(DEVICE_KINDS.map((kind) => [KIND_SEGMENT[kind], kind]))

export type ParsedTopic =
  | { direction: 'uplink'; type: UplinkType; kind: DeviceKind; deviceId: string }
  | { direction: 'downlink'; kind: DeviceKind; deviceId: string }

// Every reading's topic is read three times (broker ACL, decode, ingest) and a device uses the same
// few topics all its life: remember the answers. Bounded, because anyone may send any topic.
const PARSED_CACHE_MAX = 100_000
const parsedCache = new Map<string, ParsedTopic | null>()

/**
 * Reads a protocol v1 topic; anything else (including a malformed device id) is null. The result is
 * shared between callers (frozen): copy it before changing it.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  const known = parsedCache.get(topic)
  if (known !== undefined) return known
  const parsed = readTopic(topic)
  if (parsedCache.size >= PARSED_CACHE_MAX) parsedCache.clear()
  parsedCache.set(topic, parsed === null ? null : Object.freeze(parsed))
  return parsed
}

function readTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/')
  if (parts.length !== 4 || parts[0] !== PROTOCOL_PREFIX) return null
  const [, segment = '', deviceId = '', channel = ''] = parts
  const kind = kindBySegment.get(segment)
  if (kind === undefined || !isDeviceId(deviceId)) return null
  if (channel === DOWNLINK.channel) return { direction: 'downlink', kind, deviceId }
  const type = uplinkByPath.get(`${segment}/${channel}`)
  return type === undefined ? null : { direction: 'uplink', type, kind, deviceId }
}

export function uplinkTopic(type: UplinkType, deviceId: string): string {
  const entry = UPLINK[type]
  return `${PROTOCOL_PREFIX}/${KIND_SEGMENT[entry.kind]}/${deviceId}/${entry.channel}`
}

export function commandTopic(kind: DeviceKind, deviceId: string): string {
  return `${PROTOCOL_PREFIX}/${KIND_SEGMENT[kind]}/${deviceId}/${DOWNLINK.channel}`
}

/** Subscription filters covering every uplink topic, for the platform's service accounts. */
export function uplinkFilters(): string[] {
  return UPLINK_TYPES.map(
    (type) => `${PROTOCOL_PREFIX}/${KIND_SEGMENT[UPLINK[type].kind]}/+/${UPLINK[type].channel}`,
  )
}

/** Prefix of alert notifications published for machine consumers (service accounts only). */
export const ALERTS_TOPIC_PREFIX = 'alerts'
