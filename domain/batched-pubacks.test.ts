import { once } from 'node:events'
import { createRequire } from 'node:module'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import { encodePubacks, MQTT_PACKET_PUBACKS } from './batched-pubacks.ts'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A socket-like stream that keeps every `write` call's bytes apart. */
function recordingStream(): Writable & { calls: Buffer[]; bytes(): Buffer } {
  const calls: Buffer[] = []
  const stream = new Writable({
    write(_chunk: Buffer, _encoding, done) {
      done()
    },
  })
  const write = stream.write.bind(stream) as (chunk: Buffer) => boolean
  return Object.assign(stream, {
    calls,
    write: (chunk: Buffer) => {
      calls.push(Buffer.from(chunk))
      return write(chunk)
    },
    bytes: () => Buffer.concat(calls),
  })
}

const puback = (messageId: number): Packet => ({ cmd: 'puback', messageId })

describe('PUBACKs of one tick in one write', () => {
  it('wraps the export of every copy of mqtt-packet the platform loads', () => {
    expect(MQTT_PACKET_PUBACKS.size).toBeGreaterThan(0)
    for (const [path, outcome] of MQTT_PACKET_PUBACKS) {
      expect(outcome, path).toBe('batched')
      const shared = createRequire(path)(path) as { writeToStream: unknown }
      expect(shared.writeToStream).toBe(mqttPacket.writeToStream)
    }
  })

  it('encodes the bytes mqtt-packet generates, at every byte boundary of the message id', () => {
    const ids = [0, 1, 127, 128, 255, 256, 4095, 4096, 32767, 32768, 65534, 65535]
    for (let i = 0; i < 200; i++) ids.push(Math.floor(Math.random() * 65536))
    expect(encodePubacks(ids)).toEqual(Buffer.concat(ids.map((id) => mqttPacket.generate(puback(id)))))
  })

  it("writes a tick's acks to a socket once, at the end of the tick, in order", async () => {
    const stream = recordingStream()
    for (const id of [5, 6, 7, 65535, 0]) expect(mqttPacket.writeToStream(puback(id), stream)).toBe(true)
    expect(stream.calls).toHaveLength(0)
    await tick()
    expect(stream.calls).toEqual([encodePubacks([5, 6, 7, 65535, 0])])
  })

  it('lets no other packet overtake an ack waiting for the same socket', async () => {
    const stream = recordingStream()
    const other = recordingStream()
    const packets: Packet[] = [
      puback(1),
      puback(2),
      { cmd: 'pingresp' },
      puback(3),
      {
        cmd: 'publish',
        topic: 'v1/x',
        payload: Buffer.from('{}'),
        qos: 1,
        messageId: 9,
        dup: false,
        retain: false,
      },
      puback(4),
    ]
    for (const packet of packets) {
      mqttPacket.writeToStream(packet, stream)
      mqttPacket.writeToStream(puback(100), other)
    }
    await tick()
    expect(stream.bytes()).toEqual(Buffer.concat(packets.map((p) => mqttPacket.generate(p))))
    expect(other.calls).toEqual([encodePubacks([100, 100, 100, 100, 100, 100])])
  })

  it('leaves MQTT 5 acks and bad message ids to mqtt-packet', async () => {
    const v5 = recordingStream()
    const ack: Packet = { cmd: 'puback', messageId: 3, reasonCode: 0x10 }
    mqttPacket.writeToStream(ack, v5, { protocolVersion: 5 })
    // Written at once, by mqtt-packet (corked until its own tick).
    expect(v5.calls.length).toBeGreaterThan(0)
    await tick()
    expect(v5.bytes()).toEqual(mqttPacket.generate(ack, { protocolVersion: 5 }))

    const bad = recordingStream()
    const errored = once(bad, 'error')
    expect(mqttPacket.writeToStream({ cmd: 'puback', messageId: 'x' } as unknown as Packet, bad)).toBe(false)
    const [err] = (await errored) as [Error]
    expect(err.message).toBe('Invalid messageId')
  })

  it('drops the acks of a socket destroyed before the end of the tick, as mqtt-packet did', async () => {
    const stream = recordingStream()
    const errors: unknown[] = []
    stream.on('error', (err) => errors.push(err))
    mqttPacket.writeToStream(puback(1), stream)
    stream.destroy()
    await tick()
    expect(stream.calls).toHaveLength(0)
    expect(errors).toEqual([])
  })

  it('fails only the socket whose write throws, and still writes the others', async () => {
    const broken = recordingStream()
    const errors: Error[] = []
    broken.on('error', (err) => errors.push(err))
    Reflect.set(broken, 'write', () => {
      throw new Error('socket gone wrong')
    })
    const fine = recordingStream()
    mqttPacket.writeToStream(puback(1), broken)
    mqttPacket.writeToStream(puback(2), fine)
    await tick()
    expect(broken.destroyed).toBe(true)
    expect(errors.map((e) => e.message)).toEqual(['socket gone wrong'])
    expect(fine.calls).toEqual([encodePubacks([2])])
  })

  describe('behind a real Aedes broker', () => {
    let server: Server | null = null
    let broker: Aedes | null = null
    let device: Socket | null = null

    afterEach(async () => {
      device?.destroy()
      if (broker !== null) await new Promise<void>((resolve) => broker?.close(() => resolve()))
      if (server !== null) await new Promise<void>((resolve) => server?.close(() => resolve()))
      server = broker = device = null
    })

    it('acknowledges a burst of QoS 1 publishes in order, in a few writes rather than one per ack', async () => {
      const aedes = await Aedes.createBroker()
      broker = aedes
      const serverWrites: number[] = []
      aedes.on('client', (client) => {
        const conn = client.conn as Socket
        const write = conn.write.bind(conn) as (chunk: Buffer) => boolean
        Reflect.set(conn, 'write', (chunk: Buffer) => {
          serverWrites.push(chunk.length)
          return write(chunk)
        })
      })
      const srv = createServer(aedes.handle)
      server = srv
      srv.listen(0, '127.0.0.1')
      await once(srv, 'listening')
      const port = (srv.address() as { port: number }).port
      const socket = connect(port, '127.0.0.1')
      device = socket
      await once(socket, 'connect')
      const received: Packet[] = []
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      parser.on('packet', (p) => received.push(p))
      socket.on('data', (chunk) => parser.parse(chunk))
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          clientId: 'scale-1',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 30,
        }),
      )
      await expect.poll(() => received.some((p) => p.cmd === 'connack')).toBe(true)
      const writesBefore = serverWrites.length

      const ids = Array.from({ length: 200 }, (_, i) => i + 1)
      const burst = ids.map((messageId) =>
        mqttPacket.generate({
          cmd: 'publish',
          topic: 'v1/scales/scale-1/weighing',
          payload: Buffer.from(`{"seq":${messageId}}`),
          qos: 1,
          messageId,
          dup: false,
          retain: false,
        }),
      )
      socket.write(Buffer.concat(burst))
      await expect.poll(() => received.filter((p) => p.cmd === 'puback').length).toBe(ids.length)
      expect(
        received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId),
      ).toEqual(ids)
      // mqtt-packet alone makes three writes per ack (600 here); batched, one per tick per socket.
      const ackWrites = serverWrites.slice(writesBefore)
      expect(ackWrites.reduce((a, b) => a + b, 0)).toBe(ids.length * 4)
      expect(ackWrites.length).toBeLessThanOrEqual(20)
    })
  })
})
