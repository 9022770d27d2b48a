/**
 * The two MQTT 3.1.1 packets a benchmark device sends and reads per message, done by hand: PUBLISH at
 * QoS 1 out, and the framing of what comes back (CONNACK, PUBACK, PINGRESP). mqtt-packet does both for
 * any packet, at ~0.7 µs to generate a PUBLISH and ~0.9 µs to parse a PUBACK (its parser is a stream
 * with per-packet objects and debug calls); with the generator on the same two cores as the server,
 * those microseconds are taken from the server it measures. mqtt-packet stays the reference:
 * device-codec.test.ts checks both against it, and raw-mqtt.ts still uses it for the rare packets.
 */

/** Control packet types (the high nibble of the first byte) that a device reads. */
export const PACKET = { connack: 2, puback: 4, pingresp: 13 } as const

const PUBLISH_QOS1 = 0x32
const MAX_REMAINING_LENGTH = 268_435_455

function varIntLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

/** One PUBLISH packet (QoS 1, no DUP, no RETAIN) in one buffer; a string payload is written as UTF-8. */
export function encodePublishQos1(topic: string, payload: Buffer | string, messageId: number): Buffer {
  const topicBytes = Buffer.byteLength(topic)
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  const remaining = 2 + topicBytes + 2 + payloadBytes
  if (remaining > MAX_REMAINING_LENGTH) throw new RangeError(`PUBLISH of ${remaining} bytes is too large`)
  const packet = Buffer.allocUnsafe(1 + varIntLength(remaining) + remaining)
  packet[0] = PUBLISH_QOS1
  let at = 1
  let n = remaining
  do {
    const digit = n % 128
    n = Math.floor(n / 128)
    packet[at++] = n > 0 ? digit | 0x80 : digit
  } while (n > 0)
  at = packet.writeUInt16BE(topicBytes, at)
  at += packet.write(topic, at)
  at = packet.writeUInt16BE(messageId, at)
  if (typeof payload === 'string') packet.write(payload, at)
  else payload.copy(packet, at)
  return packet
}

/**
 * Frames a byte stream into packets, whatever the chunk boundaries: calls `onPacket` with the packet
 * type and its body (the bytes after the remaining length). Throws on a malformed remaining length.
 */
export function createPacketReader(onPacket: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer | null = null
  return (chunk) => {
    const data = buffered === null ? chunk : Buffer.concat([buffered, chunk])
    buffered = null
    let at = 0
    while (at < data.length) {
      // Fixed header: the type byte, then 1-4 bytes of remaining length.
      let remaining = 0
      let multiplier = 1
      let i = at + 1
      let isComplete = false
      while (i < data.length) {
        const byte = data[i++] as number
        remaining += (byte & 0x7f) * multiplier
        if ((byte & 0x80) === 0) {
          isComplete = true
          break
        }
        multiplier *= 128
        if (i - at > 4) throw new Error('malformed remaining length')
      }
      if (!isComplete || i + remaining > data.length) break
      onPacket((data[at] as number) >> 4, data.subarray(i, i + remaining))
      at = i + remaining
    }
    if (at < data.length) buffered = Buffer.from(data.subarray(at))
  }
}
