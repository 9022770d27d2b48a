import { connect } from 'node:net'
import bl from 'bl'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it, vi } from 'vitest'
import type { InboundMessage } from '../domain/pipeline.ts'
import { forgetConnectPacket, useLeanParserBuffer } from './lean-parser.ts'
import { startBrokerFixture } from './testing.ts'

const parserOf = (client: unknown) => (client as { _parser: { _list: unknown; settings: unknown } })._parser

describe('lean parser buffer', () => {
  it('swaps only an empty BufferListStream', () => {
    const empty = { _parser: { _list: new bl.BufferListStream() } }
    expect(useLeanParserBuffer(empty)).toBe(true)
    expect(empty._parser._list).toBeInstanceOf(bl.BufferList)
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
    expect(parserOf(client)._list).toBeInstanceOf(bl.BufferList)
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
})
