/**
 * Garbage in, broker still up: 10,000 junk payloads from authorized devices, raw malformed MQTT on
 * bare sockets, and a heap that does not grow with the traffic.
 */
import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it, vi } from 'vitest'
import { MAX_PAYLOAD_BYTES } from '../domain/protocol.ts'
import { closed, startBrokerFixture } from './testing.ts'

/** Deterministic PRNG (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function garbage(rand: () => number): Buffer {
  const int = (n: number) => Math.floor(rand() * n)
  switch (int(6)) {
    case 0: // random bytes
      return Buffer.from(Array.from({ length: int(600) }, () => int(256)))
    case 1: // broken JSON
      return Buffer.from(
        ['{"ts":', '}{', '{"seq": 1,,}', '"unterminated', '[[[[[[[[', '\u0000\u0001', 'NaN', ''][int(8)] ??
          '',
      )
    case 2: // valid JSON, wrong types and shapes
      return Buffer.from(
        JSON.stringify(
          [
            { ts: 'yesterday', seq: -1, mode: 42 },
            { ts: Number.MAX_VALUE, floor: null, door: { open: true } },
            [1, 2, 3],
            'a string',
            12.5,
            null,
            { grossG: '1kg', stable: 'yes', __proto__: { admin: true } },
          ][int(7)],
        ),
      )
    case 3: // deep nesting, under the size limit
      return Buffer.from(`${'['.repeat(1500)}${']'.repeat(1500)}`)
    case 4: // exactly at the size limit
      return Buffer.alloc(MAX_PAYLOAD_BYTES, 0x7b)
    default: // long strings and odd unicode
      return Buffer.from(JSON.stringify({ ts: 1, note: '电梯\u{1F6D7}'.repeat(int(200)) }))
  }
}

function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

/**
 * Bytes the process keeps after full GCs: JS heap plus Buffer contents (which live outside it and
 * are freed only once their wrappers are collected, hence the second pass after a turn of the loop).
 */
async function retained(gc: () => void): Promise<number> {
  gc()
  await new Promise((resolve) => setTimeout(resolve, 50))
  gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** Opens a bare TCP socket, writes `bytes`, and resolves once the broker closes it (or after `waitMs`). */
function rawExchange(port: number, bytes: Buffer[], waitMs = 2000): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1')
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('open')
    }, waitMs)
    socket.on('error', () => {})
    // read (and drop) what the broker sends: a socket nobody reads never sees the broker's FIN
    socket.resume()
    socket.on('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
    socket.on('connect', () => {
      for (const chunk of bytes) socket.write(chunk)
    })
  })
}

describe('broker: garbage', () => {
  it('takes 10,000 garbage payloads and malformed packets without crashing, losing or leaking', async () => {
    let taken = 0
    const f = await startBrokerFixture({
      sink: async () => {
        taken += 1
      },
    })
    const gc = gcFunction()
    const rand = random(20_240_601)
    const devices = await Promise.all(['el-1', 'el-2', 'sc-1'].map((id) => f.connect(id)))
    const topics: Record<string, string[]> = {
      'el-1': ['v1/elevators/el-1/status', 'v1/elevators/el-1/events'],
      'el-2': ['v1/elevators/el-2/status', 'v1/elevators/el-2/events'],
      'sc-1': ['v1/scales/sc-1/status', 'v1/scales/sc-1/weighings', 'v1/scales/sc-1/events'],
    }
    const ids = ['el-1', 'el-2', 'sc-1'] as const
    let sent = 0

    async function round(count: number): Promise<void> {
      const batch: Promise<unknown>[] = []
      for (let i = 0; i < count; i += 1) {
        const index = Math.floor(rand() * ids.length)
        const id = ids[index] ?? 'el-1'
        const device = devices[index]
        const deviceTopics = topics[id] ?? []
        const topic = deviceTopics[Math.floor(rand() * deviceTopics.length)] ?? ''
        const qos = rand() < 0.5 ? 0 : 1
        batch.push(
          device?.publishAsync(topic, garbage(rand), { qos, retain: rand() < 0.01 }) ?? Promise.resolve(),
        )
        sent += 1
        if (batch.length === 500) await Promise.all(batch.splice(0))
      }
      await Promise.all(batch)
      await vi.waitFor(() => expect(taken).toBe(sent), { timeout: 20_000 })
    }

    // Round 1 warms up code paths and pools; round 2 must not grow the heap.
    await round(4_990)
    const heapBefore = await retained(gc)
    await round(4_990)
    const heapAfter = await retained(gc)
    // Measured here: a flat broker moves by ~1.5 MB (pools still settling), while keeping the
    // round's ~5,000 payloads moves it by ~9 MB.
    expect(heapAfter - heapBefore).toBeLessThan(4 * 1024 * 1024)

    // 20 oversize payloads, each from a fresh connection: refused, counted, connection closed.
    for (let i = 0; i < 20; i += 1) {
      const device = await f.connect('el-1', { clientId: 'el-1' })
      device.publish('v1/elevators/el-1/status', Buffer.alloc(MAX_PAYLOAD_BYTES + 1 + i * 100, 0x61), {
        qos: 1,
      })
      await closed(device)
    }
    expect(sent + 20).toBe(10_000)
    expect(await f.metric('mqtt_publish_refused_total', { reason: 'payload_too_large' })).toBe(20)
    // every garbage payload within the size limit went through to ingest, none refused for content
    expect(taken).toBe(9_980)
    expect(await f.metric('mqtt_messages_received_total')).toBe(9_980)

    // Raw malformed MQTT on bare TCP sockets.
    const port = f.broker.port()
    const goodConnect = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      clientId: 'sc-1',
      username: 'sc-1',
      password: Buffer.from(f.secrets['sc-1']),
    })
    const publish = (topic: string, payload: Buffer, qos: 0 | 1 = 0) =>
      mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload,
        qos,
        messageId: qos ? 1 : undefined,
        retain: false,
        dup: false,
      })
    const badConnect = Buffer.from(goodConnect)
    badConnect.write('MQTX', 4, 'latin1') // protocol name
    const level5 = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      clientId: 'sc-1',
      username: 'sc-1',
      password: Buffer.from(f.secrets['sc-1']),
    })
    const level9 = Buffer.from(goodConnect)
    level9[8] = 9
    const malformed: Buffer[][] = [
      [Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))],
      [badConnect],
      [level5],
      [level9],
      [publish('v1/scales/sc-1/status', Buffer.from('{}'))], // PUBLISH before CONNECT
      [Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])], // announces a 256 MiB packet
      [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])], // 5-byte remaining length
      [goodConnect, Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01])], // PUBLISH with QoS 3
      [goodConnect, goodConnect], // second CONNECT
      [goodConnect, publish('v1/scales/sc-1/+', Buffer.from('{}'))],
      [goodConnect, publish(`v1/${'x/'.repeat(200)}status`, Buffer.from('{}'))], // 200 levels
      [
        goodConnect,
        mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '#/x', qos: 0 }] }),
      ],
      [goodConnect, Buffer.from([0xf0, 0x00])], // reserved packet type 15
      [goodConnect, publish('v1/scales/sc-1/status', Buffer.from('{}'), 1).subarray(0, 6)], // truncated
    ]
    for (let repeat = 0; repeat < 5; repeat += 1) {
      const outcomes = await Promise.all(
        malformed.map((bytes, i) => rawExchange(port, bytes, i === malformed.length - 1 ? 300 : 5000)),
      )
      // all but the truncated packet (which waits for its remaining bytes) are dropped by the broker
      console.log(outcomes.join(','))
      expect(outcomes.slice(0, -1).every((o) => o === 'closed')).toBe(true)
    }
    expect(await f.metric('mqtt_connections_refused_total', { reason: 'unsupported_protocol' })).toBe(5)
    // the two announced-oversize packets of each round, plus whatever the random bytes announced
    expect(await f.metric('mqtt_oversize_packets_total')).toBeGreaterThanOrEqual(10)
    await f.assertServes()
  })
})
