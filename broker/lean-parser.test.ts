import { connect } from 'node:net'
import bl from 'bl'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it, vi } from 'vitest'
import type { InboundMessage } from '../domain/pipeline.ts'
import { forgetConnectPacket, LeanBufferList, useLeanParserBuffer } from './lean-parser.ts'
import { startBrokerFixture } from './testing.ts'

const parserOf = (client: unknown) => (client as { _parser: { _list: unknown; settings: unknown } })._parser

describe('lean parser buffer', () => {
  it('swaps only an empty BufferListStream', () => {
    const empty = { _parser: { _list: new bl.BufferListStream() } }
    expect(useLeanParserBuffer(empty)).toBe(true)
    expect(empty._parser._list).toBeInstanceOf(LeanBufferList)
    expect(empty._parser._list).not.toBeInstanceOf(bl.BufferListStream)

    const holding = { _parser: { _list: new bl.BufferListStream(Buffer.from([0x30])) } }
    expect(useLeanParserBuffer(holding)).toBe(false)
    expect(holding._parser._list).toBeInstanceOf(bl.BufferListStream)
    expect(useLeanParserBuffer({})).toBe(false)
    expect(useLeanParserBuffer({ _parser: { _list: [] } })).toBe(false)
  })

  it('keeps of a CONNECT packet the two settings the parser reads, and leaves anything else', () => {
    const connected = {
      _parser: {
        settings: { cmd: 'connect', protocolVersion: 4, bridgeMode: false, password: Buffer.from('s') },
      },
    }
    expect(forgetConnectPacket(connected)).toBe(true)
    expect(connected._parser.settings).toEqual({ protocolVersion: 4, bridgeMode: false })
    expect(forgetConnectPacket(connected)).toBe(false)
    const fresh = { _parser: { settings: {} } }
    expect(forgetConnectPacket(fresh)).toBe(false)
    expect(fresh._parser.settings).toEqual({})
    expect(forgetConnectPacket({})).toBe(false)
  })

  it("gives every connection of the broker the plain list, and parses a device's packets fed a byte at a time", async () => {
    const taken: InboundMessage[] = []
    const f = await startBrokerFixture({ sink: async (message) => void taken.push(message) })
    const clients: unknown[] = []
    f.broker.aedes.on('client', (client) => clients.push(client))
    const socket = connect(f.broker.port(), '127.0.0.1')
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    const status = JSON.stringify({ ts: Date.now(), seq: 7, floor: 3, door: 'closed', moving: false })
    const bytes = Buffer.concat([
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 30,
        clientId: 'el-1',
        username: 'el-1',
        password: Buffer.from(f.secrets['el-1']),
      }),
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'v1/elevators/el-1/status',
        payload: Buffer.from(status),
        qos: 1,
        messageId: 41,
        retain: false,
        dup: false,
      }),
    ])
    // One byte per write, each after the broker has read the one before: the packets reach the
    // parser in as many pieces as there are bytes.
    for (const byte of bytes) {
      socket.write(Buffer.from([byte]))
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await vi.waitFor(() => expect(taken).toHaveLength(1))
    expect(taken[0]?.payload.toString()).toBe(status)
    expect(clients).toHaveLength(1)
    const client = clients[0]
    expect(parserOf(client)._list).toBeInstanceOf(LeanBufferList)
    expect(parserOf(client)._list).not.toBeInstanceOf(bl.BufferListStream)
    // The CONNECT packet, the device's secret in it, is not kept for the connection's life.
    expect(parserOf(client).settings).toStrictEqual({ protocolVersion: 4, bridgeMode: undefined })
    await vi.waitFor(() => {
      const packets: mqttPacket.Packet[] = []
      const parser = mqttPacket.parser()
      parser.on('packet', (packet) => packets.push(packet))
      parser.parse(Buffer.concat(received))
      expect(packets.map((p) => p.cmd)).toEqual(['connack', 'puback'])
      expect(packets[1]).toMatchObject({ messageId: 41 })
    })
    expect(f.logs.filter((line) => line.msg.includes('parser not as expected'))).toEqual([])
    socket.destroy()
  })

  it('reads every number and string as bl does, wherever the buffers split the bytes', () => {
    const bytes = Buffer.from(Array.from({ length: 23 }, (_, i) => (i * 97 + 13) & 0xff))
    // Splits into 1 to 4 buffers at every combination of cut points (an empty buffer among them).
    const splits: number[][] = [[]]
    for (let a = 0; a <= bytes.length; a++) {
      splits.push([a])
      for (let b = a; b <= bytes.length; b += 3) splits.push([a, b], [a, b, Math.min(bytes.length, b + 2)])
    }
    const describeOutcome = (read: () => unknown): string => {
      try {
        return `= ${String(read())}`
      } catch (err) {
        return `throws ${(err as Error).name}`
      }
    }
    let compared = 0
    for (const cuts of splits) {
      const edges = [0, ...cuts, bytes.length]
      const parts = edges.slice(1).map((end, i) => bytes.subarray(edges[i], end))
      const ours = new LeanBufferList()
      const theirs = new bl.BufferList()
      for (const part of parts) {
        ours.append(part)
        theirs.append(part)
      }
      for (let offset = -1; offset <= bytes.length + 1; offset++) {
        for (const method of ['readUInt8', 'readUInt16BE', 'readUInt32BE'] as const) {
          expect(
            describeOutcome(() => ours[method](offset)),
            `${method}(${offset}) of ${cuts}`,
          ).toBe(describeOutcome(() => theirs[method](offset)))
          compared++
        }
        for (const length of [0, 1, 2, 5]) {
          const end = offset + length
          expect(ours.toString('utf8', offset, end), `toString(${offset}, ${end}) of ${cuts}`).toBe(
            theirs.toString('utf8', offset, end),
          )
          expect(ours.toString('hex', offset, end)).toBe(theirs.toString('hex', offset, end))
        }
      }
      expect(ours.toString()).toBe(theirs.toString())
      // consume() is bl's own: the reads follow what it leaves.
      ours.consume(3)
      theirs.consume(3)
      expect(describeOutcome(() => ours.readUInt16BE(1))).toBe(describeOutcome(() => theirs.readUInt16BE(1)))
    }
    expect(compared).toBeGreaterThan(10_000)
  })
})
