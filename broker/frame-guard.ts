/**
 * Follows MQTT framing over a byte stream and says when a packet announces more than `maxBytes`.
 *
 * Aedes' parser (mqtt-packet) buffers a whole packet, whatever remaining length its fixed header
 * declares (up to 256 MiB), before anything can look at it: one socket could make the broker hold
 * that much memory. Each fixed header is read here as the bytes go by, so such a connection is
 * dropped on its first bytes.
 *
 * Returns a function fed every chunk in order; it returns false once the stream is over the limit
 * or its length field is malformed (more than 4 bytes, [MQTT-2.2.3]), true otherwise.
 */
export function createFrameGuard(maxBytes: number): (chunk: Buffer) => boolean {
  let stage: 'type' | 'length' | 'body' = 'type'
  let length = 0
  let multiplier = 1
  let lengthBytes = 0
  let remaining = 0
  let failed = false

  return (chunk: Buffer): boolean => {
    if (failed) return false
    let i = 0
    while (i < chunk.length) {
      if (stage === 'body') {
        const take = Math.min(remaining, chunk.length - i)
        remaining -= take
        i += take
        if (remaining === 0) stage = 'type'
        continue
      }
      const byte = chunk[i] ?? 0
      i += 1
      if (stage === 'type') {
        stage = 'length'
        length = 0
        multiplier = 1
        lengthBytes = 0
        continue
      }
      // Remaining length: 7 bits a byte, least significant first, high bit = more bytes follow.
      length += (byte & 0x7f) * multiplier
      multiplier *= 128
      lengthBytes += 1
      if (length > maxBytes || (lengthBytes === 4 && (byte & 0x80) !== 0)) {
        failed = true
        return false
      }
      if ((byte & 0x80) === 0) {
        remaining = length
        stage = remaining === 0 ? 'type' : 'body'
      }
    }
    return true
  }
}
