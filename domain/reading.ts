/**
 * Turns one raw MQTT message into a typed reading, or says exactly why not.
 * Pure: the broker, ingest and alerts all decode with this one function.
 */
import type { z } from 'zod'
import { MAX_PAYLOAD_BYTES } from './protocol.ts'
import { type DeviceKind, parseTopic, UPLINK, type UplinkType } from './topics.ts'

type DataOf<T extends UplinkType> = z.output<(typeof UPLINK)[T]['schema']>

/** A validated reading; `type` tells which schema `data` passed. */
export type Reading = {
  [T in UplinkType]: {
    type: T
    kind: DeviceKind
    deviceId: string
    /** Broker receive time, ms since epoch (the platform's clock, unlike `data.ts`). */
    receivedAt: number
    data: DataOf<T>
  }
}[UplinkType]

export type ReadingOf<T extends UplinkType> = Extract<Reading, { type: T }>

export const REJECT_REASONS = [
  'unknown_topic',
  'payload_too_large',
  'not_utf8',
  'invalid_json',
  'schema',
  'device_mismatch',
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export type Rejection = {
  reason: RejectReason
  /** Human-readable: which fields failed and how. */
  message: string
  deviceId: string | null
}

export type DecodeResult = { ok: true; reading: Reading } | { ok: false; rejection: Rejection }

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes a message. `publisherId`, when given, is the authenticated client that sent it: a reading
 * on another device's topic is refused even if the broker let it through.
 */
export function decodeMessage(
  topic: string,
  payload: Uint8Array,
  receivedAt: number,
  publisherId?: string,
): DecodeResult {
  const parsed = parseTopic(topic)
  if (parsed === null || parsed.direction !== 'uplink') {
    return reject('unknown_topic', `not a protocol v1 uplink topic: ${topic.slice(0, 200)}`, null)
  }
  const { deviceId, type } = parsed
  if (publisherId !== undefined && publisherId !== deviceId) {
    return reject('device_mismatch', `published by ${publisherId} on ${deviceId}'s topic`, deviceId)
  }
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    return reject('payload_too_large', `${payload.byteLength} bytes > ${MAX_PAYLOAD_BYTES}`, deviceId)
  }
  let text: string
  try {
    text = utf8.decode(payload)
  } catch {
    return reject('not_utf8', 'payload is not valid UTF-8', deviceId)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return reject('invalid_json', `invalid JSON: ${(err as Error).message}`, deviceId)
  }
  const result = UPLINK[type].schema.safeParse(json)
  if (!result.success) {
    const message = result.error.issues
      .slice(0, 10)
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ')
    return reject('schema', message, deviceId)
  }
  // The table guarantees that `result.data` matches `type`; TypeScript cannot correlate the two.
  const reading = { type, kind: parsed.kind, deviceId, receivedAt, data: result.data } as Reading
  return { ok: true, reading }
}

function reject(reason: RejectReason, message: string, deviceId: string | null): DecodeResult {
  return { ok: false, rejection: { reason, message, deviceId } }
}
