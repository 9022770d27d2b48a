/**
 * mqtt-packet writes each PUBACK as three `write` calls (header, length, message id) after a `cork()`,
 * and schedules an `uncork()` with a `process.nextTick` of its own: per acknowledged reading, three
 * entries in the socket's buffered list and a tick. The broker acknowledges readings in runs (every
 * reading of an InfluxDB batch at once, a few per device), so this module writes every PUBACK of one
 * tick to one socket as one buffer, in one `write`, at the end of the tick: the same bytes, in the same
 * order, as the socket would have sent.
 *
 * Importing it wraps mqtt-packet's `writeToStream` export (after the quiet copy of
 * quiet-mqtt-packet.ts, imported first), which aedes and mqtt.js call at call time:
 * - a PUBACK of MQTT 3.1 / 3.1.1 with a valid message id waits in its socket's run;
 * - any other packet to a socket first writes the run waiting for it, so nothing overtakes an ack;
 * - everything else (MQTT 5 acks with a reason code or properties, a bad message id) goes to
 *   mqtt-packet as before, errors included.
 * The runs are keyed by socket: one process-wide table because mqtt-packet's export is process-wide.
 */
import { createRequire } from 'node:module'
import { mqttPacketPaths } from './quiet-mqtt-packet.ts'

type AckPacket = { cmd?: unknown; messageId?: unknown; reasonCode?: unknown; properties?: unknown }
type Stream = {
  write(chunk: Buffer): boolean
  destroy?(err?: Error): unknown
  readonly destroyed?: boolean
  readonly writableEnded?: boolean
  readonly writableNeedDrain?: boolean
}
type WriteToStream = ((packet: AckPacket, stream: Stream, opts?: { protocolVersion?: number }) => boolean) & {
  cacheNumbers?: boolean
}

const BATCHED = Symbol.for('liftscale.batched-pubacks')
const PUBACK_FIRST_BYTE = 0x40 // type 4, no flags
const PUBACK_REMAINING_LENGTH = 2

/** The PUBACKs waiting for each socket, in the order they were written. */
const waiting = new Map<Stream, number[]>()
let flushQueued = false

/** One buffer holding a PUBACK per message id, as mqtt-packet writes them for MQTT 3.1.1. */
export function encodePubacks(messageIds: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(messageIds.length * 4)
  let at = 0
  for (const id of messageIds) {
    out[at] = PUBACK_FIRST_BYTE
    out[at + 1] = PUBACK_REMAINING_LENGTH
    out[at + 2] = id >>> 8
    out[at + 3] = id & 0xff
    at += 4
  }
  return out
}

function writeRun(stream: Stream, ids: number[]): void {
  waiting.delete(stream)
  // Gone meanwhile: mqtt-packet's corked bytes would have been dropped with the socket too.
  if (stream.destroyed === true || stream.writableEnded === true) return
  try {
    stream.write(encodePubacks(ids))
  } catch (err) {
    // Not in the caller's try any more (aedes' write() catches mqtt-packet's throws): fail this
    // connection, never the tick that writes every other socket's acks.
    stream.destroy?.(err instanceof Error ? err : new Error(String(err)))
  }
}

function flushAll(): void {
  flushQueued = false
  for (const [stream, ids] of waiting) writeRun(stream, ids)
}

function isPlainPuback(packet: AckPacket, opts: { protocolVersion?: number } | undefined): boolean {
  if (packet.cmd !== 'puback' || opts?.protocolVersion === 5) return false
  const id = packet.messageId
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffff
}

function batching(original: WriteToStream): WriteToStream {
  const wrapped: WriteToStream = (packet, stream, opts) => {
    if (packet !== null && typeof packet === 'object' && isPlainPuback(packet, opts)) {
      if (stream.destroyed === true || stream.writableEnded === true) return original(packet, stream, opts)
      let ids = waiting.get(stream)
      if (ids === undefined) {
        ids = []
        waiting.set(stream, ids)
        if (!flushQueued) {
          flushQueued = true
          process.nextTick(flushAll)
        }
      }
      ids.push(packet.messageId as number)
      // What write() would answer: false once the socket's buffer is past its high-water mark.
      return stream.writableNeedDrain !== true
    }
    const ids = waiting.get(stream)
    if (ids !== undefined) writeRun(stream, ids)
    return original(packet, stream, opts)
  }
  // mqtt.js turns the number cache off through this property (its writeCache option).
  Object.defineProperty(wrapped, 'cacheNumbers', {
    get: () => original.cacheNumbers,
    set: (value: boolean) => {
      original.cacheNumbers = value
    },
  })
  return wrapped
}

type MqttPacketExports = Record<string | symbol, unknown> & { writeToStream: WriteToStream }

function install(mqttPacketPath: string): 'batched' | 'was-batched' {
  const shared = createRequire(mqttPacketPath)(mqttPacketPath) as MqttPacketExports
  if (shared[BATCHED] === true) return 'was-batched'
  shared.writeToStream = batching(shared.writeToStream)
  Object.defineProperty(shared, BATCHED, { value: true })
  return 'batched'
}

/** Per copy of mqtt-packet (by path): wrapped by this import, or by an earlier one. */
export const MQTT_PACKET_PUBACKS: ReadonlyMap<string, 'batched' | 'was-batched'> = new Map(
  mqttPacketPaths().map((path) => [path, install(path)]),
)
