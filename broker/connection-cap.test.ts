import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { describe, expect, it, vi } from 'vitest'
import { openFilesLimit } from '../domain/process-figures.ts'
import { connectionCap, descriptorReserve } from './connection-cap.ts'
import { closed, selfSignedCertificate, startBrokerFixture } from './testing.ts'

describe('connection cap: the arithmetic', () => {
  it('keeps 1 % of the descriptors, at least 64 and at most 1,024, and lets MQTT_MAX_CONNECTIONS decide when set', () => {
    expect(descriptorReserve(1024)).toBe(64)
    expect(descriptorReserve(20_000)).toBe(200)
    expect(descriptorReserve(1_048_576)).toBe(1024)
    expect(connectionCap(undefined, 20_000)).toEqual({
      max: 19_800,
      source: 'open files limit',
      openFilesLimit: 20_000,
    })
    expect(connectionCap(500, 20_000).max).toBe(500)
    expect(connectionCap(undefined, null)).toEqual({ max: null, source: 'none', openFilesLimit: null })
    expect(connectionCap(undefined, 10).max).toBe(1)
  })
})

describe('connection cap: the broker', () => {
  it('closes sockets past the cap on arrival, counts them, warns once, and serves those it holds', async () => {
    const f = await startBrokerFixture({ env: { MQTT_MAX_CONNECTIONS: '2' } })
    expect(await f.metric('mqtt_connection_cap')).toBe(2)
    const el1 = await f.connect('el-1')
    const el2 = await f.connect('el-2')

    // Three more sockets, two of them in one burst: each is closed without a byte from the broker.
    for (let i = 0; i < 3; i++) {
      const socket = connect(f.broker.port(), '127.0.0.1')
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      socket.on('error', () => undefined)
      await once(socket, 'close')
      expect(Buffer.concat(received).length).toBe(0)
    }
    expect(await f.metric('mqtt_sockets_over_cap_total')).toBe(3)
    const warnings = f.logs.filter((l) => l.level === 40 && l.msg.includes('connection cap'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ cap: 2, source: 'MQTT_MAX_CONNECTIONS', refused: 1 })

    // The two held keep working; once one leaves, its place is free again.
    await el1.publishAsync('v1/elevators/el-1/status', JSON.stringify({ ts: 1, seq: 1 }), { qos: 1 })
    await el2.endAsync()
    await vi.waitFor(() => expect(f.broker.aedes.connectedClients).toBe(1))
    const sc1 = await f.connect('sc-1')
    expect(sc1.connected).toBe(true)
    await el1.endAsync()
    await closed(el1)
  })

  it('counts the TLS listener and the plain one against one cap', async () => {
    const { cert, key } = selfSignedCertificate()
    const f = await startBrokerFixture({
      env: { MQTT_MAX_CONNECTIONS: '2', MQTT_TLS_CERT: cert, MQTT_TLS_KEY: key, MQTT_TLS_PORT: '0' },
    })
    const tlsUrl = `mqtts://127.0.0.1:${f.broker.tlsPort()}`
    await f.connect('el-1')
    await f.connect('el-2', { ca: readFileSync(cert) }, tlsUrl)

    // Each listener holds one socket, under its own cap of 2: the cap over both turns a third away.
    const plain = connect(f.broker.port(), '127.0.0.1')
    plain.on('error', () => undefined)
    await once(plain, 'close')
    const secure = tlsConnect({ port: f.broker.tlsPort() ?? 0, host: '127.0.0.1', ca: readFileSync(cert) })
    secure.on('error', () => undefined)
    await once(secure, 'close')
    expect(await f.metric('mqtt_sockets_over_cap_total')).toBe(2)
    expect(f.broker.aedes.connectedClients).toBe(2)
  })

  it('takes its cap from the open-files limit when MQTT_MAX_CONNECTIONS is unset', async () => {
    const f = await startBrokerFixture()
    const limit = openFilesLimit()
    const expected = limit === null ? -1 : limit - descriptorReserve(limit)
    expect(await f.metric('mqtt_connection_cap')).toBe(expected)
    const listening = f.logs.find((l) => l.msg === 'broker listening')
    expect(listening).toMatchObject({
      openFilesLimit: limit,
      maxConnections: limit === null ? null : expected,
    })
  })
})
