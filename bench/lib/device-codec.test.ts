import mqttPacket from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { createPacketReader, encodePublishQos1 } from './device-codec.ts'

function parseWithMqttPacket(bytes: Buffer): mqttPacket.Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const packets: mqttPacket.Packet[] = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (err) => {
    throw err
  })
  parser.parse(bytes)
  return packets
}

describe('the benchmark device codec', () => {
  // Sizes on both sides of each remaining-length byte boundary (127 / 16,383 / 2,097,151).
  it.each([0, 1, 100, 121, 122, 200, 16_000, 16_376, 16_377, 70_000, 2_097_140, 2_097_145])(
    'encodes a PUBLISH QoS 1 byte for byte as mqtt-packet does (payload of %i bytes)',
    (size) => {
      const topic = 'v1/elevators/EL-000123/status'
      const payload = Buffer.alloc(size, 0x61)
      const messageId = 1 + (size % 65_535)
      const ours = encodePublishQos1(topic, payload, messageId)
      const reference = mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload,
        qos: 1,
        messageId,
        dup: false,
        retain: false,
      })
      expect(ours.equals(reference)).toBe(true)
    },
  )

  it('writes a string payload as UTF-8, which mqtt-packet parses back', () => {
    const text = JSON.stringify({ ts: 1, seq: 2, firmware: 'sc-fw 2.4.1 — 秤' })
    const [packet] = parseWithMqttPacket(encodePublishQos1('v1/scales/SC-1/status', text, 65_535))
    expect(packet).toMatchObject({
      cmd: 'publish',
      qos: 1,
      messageId: 65_535,
      topic: 'v1/scales/SC-1/status',
    })
    expect((packet as mqttPacket.IPublishPacket).payload.toString('utf8')).toBe(text)
  })

  it('frames what a device reads whatever the chunk boundaries, and keeps a partial packet', () => {
    const stream = Buffer.concat([
      mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }),
      ...Array.from({ length: 5 }, (_, i) => mqttPacket.generate({ cmd: 'puback', messageId: 250 + i })),
      mqttPacket.generate({ cmd: 'pingresp' }),
      // A packet whose remaining length takes two bytes.
      mqttPacket.generate({
        cmd: 'publish',
        topic: 't',
        payload: Buffer.alloc(300, 1),
        qos: 0,
        dup: false,
        retain: false,
      }),
      mqttPacket.generate({ cmd: 'puback', messageId: 65_535 }),
    ])
    const expected = [
      '2:0,0',
      '4:0,250',
      '4:0,251',
      '4:0,252',
      '4:0,253',
      '4:0,254',
      '13:',
      '3:303',
      '4:255,255',
    ]
    const describePacket = (type: number, body: Buffer) =>
      `${type}:${type === 3 ? body.length : [...body].join(',')}`
    for (const step of [1, 2, 3, 7, stream.length]) {
      const seen: string[] = []
      const read = createPacketReader((type, body) => seen.push(describePacket(type, body)))
      for (let at = 0; at < stream.length; at += step) read(stream.subarray(at, at + step))
      expect(seen, `chunks of ${step}`).toEqual(expected)
    }
  })

  it('refuses a remaining length longer than four bytes', () => {
    const read = createPacketReader(() => undefined)
    expect(() => read(Buffer.from([0x40, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(
      /malformed remaining length/,
    )
  })
})
