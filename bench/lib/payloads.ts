/**
 * Protocol v1 payloads for simulated load: the same bytes for the ingest run and the raw-broker
 * baseline. Deterministic in (device, seq), so a run can be checked message by message.
 */
import type { DeviceKind, UplinkType } from '../../domain/topics.ts'
import { uplinkTopic } from '../../domain/topics.ts'

/**
 * What ingest refuses, by the reason it gives; the load generator interleaves them on request. (An
 * oversize payload is not among them: the broker itself refuses it by closing the connection.)
 */
export const INVALID_KINDS = ['schema', 'invalid_json', 'not_utf8'] as const
export type InvalidKind = (typeof INVALID_KINDS)[number]

/** A valid payload is its JSON text (written into the packet as UTF-8), a refused one its bytes. */
export type LoadMessage = {
  topic: string
  payload: Buffer | string
  type: UplinkType
  invalid: InvalidKind | null
}

function hash(deviceIndex: number, seq: number): number {
  let h = Math.imul(deviceIndex + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seq + 0x27d4eb2f, 0xc2b2ae35)
  h ^= h >>> 15
  h = Math.imul(h, 0x2c1b3c6d)
  h ^= h >>> 12
  return (h >>> 0) / 0x100000000
}

/** Which uplink type a device sends as its `seq`-th message: mostly status and weighings, some events. */
export function messageType(kind: DeviceKind, seq: number): UplinkType {
  if (kind === 'elevator') return seq % 20 === 19 ? 'elevator_event' : 'elevator_status'
  if (seq % 25 === 24) return 'scale_event'
  return seq % 10 === 9 ? 'scale_status' : 'scale_weighing'
}

/**
 * The JSON text of a valid payload, written as a template: the generator makes one per message, and
 * building an object to `JSON.stringify` it took ~1 µs of the cores the measured server runs on
 * (0.3 µs this way). payloads.test.ts decodes each kind with the platform's own decoder.
 */
function validPayloadText(type: UplinkType, seq: number, ts: number): string {
  switch (type) {
    case 'elevator_status': {
      const isStopped = seq % 3 === 0
      const direction = isStopped ? 'stopped' : seq % 2 === 0 ? 'up' : 'down'
      return (
        `{"ts":${ts},"seq":${seq},"mode":"normal","floor":${seq % 30},"levelled":${isStopped},` +
        `"doorZone":${isStopped},"direction":"${direction}","speed":${isStopped ? 0 : 1.5},` +
        `"door":"${isStopped ? 'open' : 'closed'}","occupied":${seq % 2 === 0},"load":${(seq % 10) / 10},` +
        `"safetyCircuit":true,"doorLock":true,"power":true,"alarmButton":false}`
      )
    }
    case 'elevator_event':
      return `{"ts":${ts},"seq":${seq},"code":"mode_change","detail":{"mode":"normal"}}`
    case 'scale_status':
      return (
        `{"ts":${ts},"seq":${seq},"zeroOffsetE":0.1,"sealIntact":true,"paramCounter":3,` +
        `"calibrationCounter":1,"firmware":"sc-fw 2.4.1"}`
      )
    case 'scale_weighing': {
      const net = 0.5 + (seq % 40) / 10
      const amount = Math.round(net * 12.8 * 100) / 100
      return (
        `{"ts":${ts},"seq":${seq},"grossKg":${net + 0.05},"tareKg":0.05,"netKg":${net},` +
        `"unitPriceCny":12.8,"amountCny":${amount},"stable":true}`
      )
    }
    case 'scale_event':
      return `{"ts":${ts},"seq":${seq},"code":"tare","detail":{"tareKg":0.05}}`
  }
}

function invalidPayload(kind: InvalidKind, type: UplinkType, seq: number, ts: number): Buffer {
  switch (kind) {
    case 'schema':
      return Buffer.from(JSON.stringify({ ...JSON.parse(validPayloadText(type, seq, ts)), seq: -1 }))
    case 'invalid_json':
      return Buffer.from(`{"ts":${ts},"seq":${seq},`)
    case 'not_utf8':
      return Buffer.from([0x7b, 0xff, 0xfe, 0x7d])
  }
}

/**
 * The `seq`-th message of a device. `invalidShare` (0..1) of the messages, chosen by a hash of device
 * and seq, are refused kinds in turn.
 */
export function loadMessage(
  device: { id: string; kind: DeviceKind; index: number },
  seq: number,
  ts: number,
  invalidShare = 0,
): LoadMessage {
  const type = messageType(device.kind, seq)
  const topic = uplinkTopic(type, device.id)
  if (invalidShare > 0 && hash(device.index, seq) < invalidShare) {
    const invalid = INVALID_KINDS[(device.index + seq) % INVALID_KINDS.length] ?? 'schema'
    return { topic, type, invalid, payload: invalidPayload(invalid, type, seq, ts) }
  }
  return { topic, type, invalid: null, payload: validPayloadText(type, seq, ts) }
}
