import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { Registry as MetricsRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { silentLogger } from '../domain/logger.ts'
import type { InboundMessage } from '../domain/pipeline.ts'
import { createRegistry } from '../registry/registry.ts'
import { createBroker } from './broker.ts'
import { BrokerConfigSchema, brokerTls } from './config.ts'
import { CONNACK } from './policy.ts'
import {
  closed,
  connectOutcome,
  FAST_SCRYPT,
  mosquitto,
  selfSignedCertificate,
  startBrokerFixture,
} from './testing.ts'

const STATUS = JSON.stringify({ ts: 1_700_000_000_000, seq: 1, mode: 'normal' })

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve = (): void => {}
  let reject = (_err: Error): void => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Collects messages a client receives. */
function inbox(client: MqttClient): { topic: string; payload: string }[] {
  const messages: { topic: string; payload: string }[] = []
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }))
  return messages
}

describe('broker: protocol clients', () => {
  it('carries device uplinks to service accounts and commands to devices, with mosquitto clients too', async () => {
    const f = await startBrokerFixture()
    const port = String(f.broker.port())
    // mosquitto_sub as the ingest service account, mosquitto_pub as elevator el-1.
    const sub = mosquitto('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', port, '-i', 'ingest', '-u', 'ingest', '-P', f.secrets.ingest],
      ...['-t', 'v1/#', '-q', '1', '-C', '1', '-v', '-W', '10'],
    ])
    // publish only once the broker has mosquitto_sub's subscription
    await once(f.broker.aedes, 'subscribe')
    const pub = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', port, '-i', 'el-1', '-u', 'el-1', '-P', f.secrets['el-1']],
      ...['-t', 'v1/elevators/el-1/status', '-q', '1', '-m', STATUS],
    ])
    expect(pub.code).toBe(0)
    const got = await sub
    expect(got.code).toBe(0)
    expect(got.stdout.trim()).toBe(`v1/elevators/el-1/status ${STATUS}`)
    expect(await f.metric('mqtt_messages_received_total', { type: 'elevator_status' })).toBe(1)

    // A device receives commands on its own topic, from the platform in-process and from a service account.
    const device = await f.connect('sc-1')
    const messages = inbox(device)
    const granted = await device.subscribeAsync('v1/scales/sc-1/commands', { qos: 1 })
    expect(granted[0]?.qos).toBe(1)
    await f.broker.publish('v1/scales/sc-1/commands', '{"cmd":"self_check"}', 1)
    const service = await f.connect('ingest')
    await service.publishAsync('v1/scales/sc-1/commands', '{"cmd":"sync_time"}', { qos: 1 })
    await vi.waitFor(() =>
      expect(messages.map((m) => m.payload)).toEqual(['{"cmd":"self_check"}', '{"cmd":"sync_time"}']),
    )

    // mosquitto_sub as a device gets its command too.
    const deviceSub = mosquitto('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', port, '-i', 'el-2', '-u', 'el-2', '-P', f.secrets['el-2']],
      ...['-t', 'v1/elevators/el-2/commands', '-q', '1', '-C', '1', '-W', '10'],
    ])
    await once(f.broker.aedes, 'subscribe')
    await service.publishAsync('v1/elevators/el-2/commands', '{"cmd":"reset_alarm"}', { qos: 1 })
    expect((await deviceSub).stdout.trim()).toBe('{"cmd":"reset_alarm"}')
  })
})

describe('broker: authentication', () => {
  it('refuses bad connections with the right CONNACK code, logs and counts each reason, and stays up', async () => {
    const f = await startBrokerFixture()
    const el1 = f.secrets['el-1']
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1', password: 'not-the-secret' })).toBe(
      CONNACK.badUsernameOrPassword,
    )
    expect(await f.refusedCode({ clientId: 'el-9', username: 'el-9', password: el1 })).toBe(
      CONNACK.badUsernameOrPassword,
    )
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1' })).toBe(CONNACK.badUsernameOrPassword)
    expect(await f.refusedCode({ clientId: '', username: 'el-1', password: el1 })).toBe(
      CONNACK.identifierRejected,
    )
    expect(await f.refusedCode({ clientId: 'el-2', username: 'el-1', password: el1 })).toBe(
      CONNACK.identifierRejected,
    )
    // a device registered but never issued a secret
    f.registry.createElevator({
      id: 'el-3',
      siteId: 'site-1',
      tenantId: 'firm-a',
      registrationCode: '31104201002021000003',
      ratedSpeedMps: 1,
      floors: 6,
    })
    expect(await f.refusedCode({ clientId: 'el-3', username: 'el-3', password: el1 })).toBe(
      CONNACK.badUsernameOrPassword,
    )
    f.registry.setInService('el-2', false)
    expect(await f.refusedCode({ clientId: 'el-2', username: 'el-2', password: f.secrets['el-2'] })).toBe(
      CONNACK.notAuthorized,
    )
    f.registry.setInService('el-2', true)
    f.registry.revokeDevice('sc-1')
    expect(await f.refusedCode({ clientId: 'sc-1', username: 'sc-1', password: f.secrets['sc-1'] })).toBe(
      CONNACK.notAuthorized,
    )

    // Debian's mosquitto_pub, with an unknown device and with a wrong secret.
    const port = String(f.broker.port())
    for (const [id, secret] of [
      ['el-7', el1],
      ['el-1', 'wrong'],
    ] as const) {
      const result = await mosquitto('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', port, '-i', id, '-u', id, '-P', secret],
        ...['-t', `v1/elevators/${id}/status`, '-m', STATUS],
      ])
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/bad user name or password/i)
    }

    const expected = {
      bad_secret: 2,
      unknown: 2,
      missing_credentials: 1,
      empty_client_id: 1,
      client_id_mismatch: 1,
      no_credentials: 1,
      out_of_service: 1,
      revoked: 1,
    }
    for (const [reason, count] of Object.entries(expected)) {
      expect(await f.metric('mqtt_connections_refused_total', { reason }), reason).toBe(count)
      expect(f.warnings(reason), reason).toHaveLength(count)
    }
    // no secret reaches the log
    expect(JSON.stringify(f.logs)).not.toContain(el1)
    await f.assertServes()
  })

  it('kicks a connected device at once when it is revoked, rotated or taken out of service', async () => {
    const f = await startBrokerFixture()
    const el1 = await f.connect('el-1')
    f.registry.revokeDevice('el-1')
    await closed(el1)
    expect(await f.metric('mqtt_clients_kicked_total', { reason: 'revoked' })).toBe(1)
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1', password: f.secrets['el-1'] })).toBe(
      CONNACK.notAuthorized,
    )

    const el2 = await f.connect('el-2')
    const fresh = await f.registry.issueDeviceSecret('el-2')
    await closed(el2)
    expect(await f.metric('mqtt_clients_kicked_total', { reason: 'rotated' })).toBe(1)
    // the old secret no longer works, the new one does
    expect(await f.refusedCode({ clientId: 'el-2', username: 'el-2', password: f.secrets['el-2'] })).toBe(
      CONNACK.badUsernameOrPassword,
    )
    const again = await f.connect('el-2', { password: fresh })

    f.registry.setInService('el-2', false)
    await closed(again)
    expect(await f.metric('mqtt_clients_kicked_total', { reason: 'out_of_service' })).toBe(1)

    const service = await f.connect('ingest')
    f.registry.revokeServiceAccount('ingest')
    await closed(service)
    expect(await f.metric('mqtt_clients_connected')).toBe(0)
    const kicks = f.logs.filter(
      (l) => l.level === 40 && l.msg === 'client disconnected: credentials no longer valid',
    )
    expect(kicks.map((l) => [l.clientId, l.reason])).toEqual([
      ['el-1', 'revoked'],
      ['el-2', 'rotated'],
      ['el-2', 'out_of_service'],
      ['ingest', 'revoked'],
    ])
  })

  it('kicks clients revoked through another registry connection (the operator CLI) on its next poll', async () => {
    const f = await startBrokerFixture()
    const el1 = await f.connect('el-1')
    const el2 = await f.connect('el-2')
    const sc1 = await f.connect('sc-1')
    const service = await f.connect('ingest')
    const cli = createRegistry({ file: join(f.dir, 'registry.db'), scrypt: FAST_SCRYPT })
    onTestFinished(() => cli.close())

    cli.revokeDevice('el-1')
    await closed(el1)
    const rotated = await cli.issueDeviceSecret('el-2')
    await closed(el2)
    cli.revokeServiceAccount('ingest')
    await closed(service)
    expect(await f.metric('mqtt_clients_kicked_total', { reason: 'revoked' })).toBe(2)
    expect(await f.metric('mqtt_clients_kicked_total', { reason: 'rotated' })).toBe(1)
    // untouched clients stay connected
    expect(sc1.connected).toBe(true)
    expect(await f.metric('mqtt_clients_connected')).toBe(1)
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1', password: f.secrets['el-1'] })).toBe(
      CONNACK.notAuthorized,
    )
    await f.connect('el-2', { password: rotated })
  })
})

describe('broker: authorization', () => {
  it("refuses publishes to another device's topic, $SYS, another kind's channel and over 4 KiB", async () => {
    const f = await startBrokerFixture()
    const watcher = await f.connect('ingest')
    await watcher.subscribeAsync(['v1/#', 'alerts/#'], { qos: 1 })
    const seen = inbox(watcher)

    const alertsSecret = await f.registry.createServiceAccount('alerts')
    const attempts: [string, string, string | Buffer, string][] = [
      ['el-1', 'v1/elevators/el-2/status', STATUS, 'other_device'],
      ['el-1', '$SYS/broker/uptime', 'x', 'sys_topic'],
      ['el-1', 'v1/elevators/el-1/weighings', '{}', 'wrong_kind'],
      ['el-1', 'v1/elevators/el-1/status', Buffer.alloc(5 * 1024, 0x61), 'payload_too_large'],
      ['el-1', 'alerts/el-1/trapped', '{}', 'not_uplink'],
      ['alerts', 'v1/scales/sc-1/weighings', '{}', 'device_topic'],
      ['alerts', 'other/topic', '{}', 'not_allowed'],
    ]
    for (const [who, topic, payload, reason] of attempts) {
      const client = await f.connect(who, who === 'alerts' ? { password: alertsSecret } : {})
      client.publish(topic, payload, { qos: 1 })
      await closed(client)
      expect(await f.metric('mqtt_publish_refused_total', { reason }), reason).toBe(1)
      expect(f.warnings(reason)[0]).toMatchObject({ clientId: who, topic, reason })
    }
    // nothing refused reached a subscriber
    expect(seen).toEqual([])

    // mosquitto_pub speaking for another device: refused too.
    const result = await mosquitto('mosquitto_pub', [
      ...[
        '-h',
        '127.0.0.1',
        '-p',
        String(f.broker.port()),
        '-i',
        'sc-1',
        '-u',
        'sc-1',
        '-P',
        f.secrets['sc-1'],
      ],
      ...['-t', 'v1/scales/sc-2/weighings', '-q', '1', '-m', '{}'],
    ])
    expect(result.code).not.toBe(0)
    await vi.waitFor(async () =>
      expect(await f.metric('mqtt_publish_refused_total', { reason: 'other_device' })).toBe(2),
    )
    await f.assertServes()
  })

  it('refuses at CONNECT a Last Will aimed at another device, and delivers an own will', async () => {
    const f = await startBrokerFixture()
    const el1 = f.secrets['el-1']
    const will = {
      topic: 'v1/elevators/el-2/events',
      payload: Buffer.from('{}'),
      qos: 1 as const,
      retain: false,
    }
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1', password: el1, will })).toBe(
      CONNACK.notAuthorized,
    )
    const bigWill = { ...will, topic: 'v1/elevators/el-1/events', payload: Buffer.alloc(5000, 0x61) }
    expect(await f.refusedCode({ clientId: 'el-1', username: 'el-1', password: el1, will: bigWill })).toBe(
      CONNACK.notAuthorized,
    )
    expect(await f.metric('mqtt_connections_refused_total', { reason: 'will_refused' })).toBe(2)
    expect(f.warnings('will_refused').map((l) => l.willReason)).toEqual(['other_device', 'payload_too_large'])

    // A will on its own events topic is accepted and published when the device drops off.
    const watcher = await f.connect('ingest')
    await watcher.subscribeAsync('v1/elevators/+/events', { qos: 1 })
    const seen = inbox(watcher)
    const ownWill = { ...will, topic: 'v1/elevators/el-1/events', payload: Buffer.from('{"gone":true}') }
    const device = await f.connect('el-1', { will: ownWill })
    device.stream.destroy()
    await vi.waitFor(() =>
      expect(seen).toEqual([{ topic: 'v1/elevators/el-1/events', payload: '{"gone":true}' }]),
    )
    await f.assertServes()
  })

  it("refuses subscriptions to another device's commands, alerts/#, # and $SYS/# (granted 0x80)", async () => {
    const f = await startBrokerFixture()
    const device = await f.connect('el-1')
    const seen = inbox(device)
    // mqtt.js rejects a SUBACK holding any 0x80; the codes travel on the error's packet
    const granted = await device
      .subscribeAsync(
        ['v1/elevators/el-2/commands', 'alerts/#', '#', '$SYS/#', 'v1/elevators/el-1/commands'],
        { qos: 1 },
      )
      .then(
        () => null,
        (err: { packet?: { granted?: number[] } }) => err.packet?.granted,
      )
    expect(granted).toEqual([128, 128, 128, 128, 1])
    expect(await f.metric('mqtt_subscribe_refused_total', { reason: 'not_own_commands' })).toBe(3)
    expect(await f.metric('mqtt_subscribe_refused_total', { reason: 'sys_topic' })).toBe(1)
    expect(f.warnings('not_own_commands').map((l) => l.topic)).toEqual([
      'v1/elevators/el-2/commands',
      'alerts/#',
      '#',
    ])

    // Nothing but its own commands reaches it.
    const service = await f.connect('ingest')
    await service.publishAsync('alerts/el-1/trapped', '{}', { qos: 1 })
    await service.publishAsync('v1/elevators/el-2/commands', '{"cmd":"x"}', { qos: 1 })
    await service.publishAsync('v1/elevators/el-1/commands', '{"cmd":"mine"}', { qos: 1 })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    expect(seen).toEqual([{ topic: 'v1/elevators/el-1/commands', payload: '{"cmd":"mine"}' }])

    // Debian's mosquitto_sub as a device asking for alerts: every subscription denied.
    const result = await mosquitto('mosquitto_sub', [
      ...[
        '-h',
        '127.0.0.1',
        '-p',
        String(f.broker.port()),
        '-i',
        'sc-1',
        '-u',
        'sc-1',
        '-P',
        f.secrets['sc-1'],
      ],
      ...['-t', 'alerts/#', '-C', '1', '-W', '3'],
    ])
    expect(result.stderr).toMatch(/All subscription requests were denied/)
    expect(result.stdout).toBe('')
    expect(await f.metric('mqtt_subscribe_refused_total', { reason: 'not_own_commands' })).toBe(4)
    expect(device.connected).toBe(true)
    await f.assertServes()
  })
})

describe('broker: in-process device message sink', () => {
  it('holds the PUBACK until the sink has the message, then delivers it', async () => {
    const taken: InboundMessage[] = []
    const gates: ReturnType<typeof deferred>[] = []
    const f = await startBrokerFixture({
      sink: (message) => {
        taken.push(message)
        const gate = deferred()
        gates.push(gate)
        return gate.promise
      },
    })
    const watcher = await f.connect('ingest')
    await watcher.subscribeAsync('v1/#', { qos: 1 })
    const seen = inbox(watcher)
    const device = await f.connect('el-1')
    let acked = false
    const publishing = device.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1 }).then(() => {
      acked = true
    })
    await vi.waitFor(() => expect(taken).toHaveLength(1))
    expect(taken[0]).toMatchObject({ topic: 'v1/elevators/el-1/status', clientId: 'el-1' })
    expect(taken[0]?.payload.toString()).toBe(STATUS)
    // While the sink has not resolved, the device has no PUBACK and subscribers have nothing.
    // A round trip on the same connection (a subscribe) proves the broker had time to answer.
    await device.subscribeAsync('v1/elevators/el-1/commands')
    expect(acked).toBe(false)
    expect(seen).toEqual([])
    gates[0]?.resolve()
    await publishing
    expect(acked).toBe(true)
    await vi.waitFor(() => expect(seen).toEqual([{ topic: 'v1/elevators/el-1/status', payload: STATUS }]))
    expect(await f.metric('mqtt_device_sink_seconds')).toBeGreaterThan(0)
    // The sink sees device uplinks only: a service account's command does not go to ingest.
    await watcher.publishAsync('v1/elevators/el-1/commands', '{}', { qos: 1 })
    expect(taken).toHaveLength(1)
  })

  it("with a sink and no subscriber under v1/, skips aedes' publish for readings, until one subscribes", async () => {
    const taken: string[] = []
    const f = await startBrokerFixture({
      sink: async (message) => {
        taken.push(message.payload.toString())
      },
    })
    const published: string[] = []
    f.broker.aedes.on('publish', (packet) => {
      if (packet.topic.startsWith('v1/')) published.push(packet.payload.toString())
    })
    const device = await f.connect('el-1')
    await device.publishAsync('v1/elevators/el-1/status', 'alone', { qos: 1 })
    expect(taken).toEqual(['alone'])
    // Acknowledged and taken, and nobody to deliver it to: aedes never published it.
    await device.publishAsync('v1/elevators/el-1/status', 'alone again', { qos: 0 })
    await vi.waitFor(() => expect(taken).toHaveLength(2))
    expect(published).toEqual([])
    expect(await f.metric('mqtt_emit_waiting')).toBe(0)

    // A service account's subscription under alerts/ changes nothing; one under v1/ turns delivery on.
    const watcher = await f.connect('ingest')
    await watcher.subscribeAsync('alerts/#', { qos: 1 })
    await device.publishAsync('v1/elevators/el-1/status', 'still alone', { qos: 1 })
    expect(published).toEqual([])
    await watcher.subscribeAsync('v1/elevators/+/status', { qos: 1 })
    const seen = inbox(watcher)
    await device.publishAsync('v1/elevators/el-1/status', 'watched', { qos: 1 })
    await vi.waitFor(() => expect(seen).toEqual([{ topic: 'v1/elevators/el-1/status', payload: 'watched' }]))
    expect(published).toEqual(['watched'])
    // For good: the subscriber leaving does not turn it off (its session may come back).
    await watcher.unsubscribeAsync('v1/elevators/+/status')
    await device.publishAsync('v1/elevators/el-1/status', 'after', { qos: 1 })
    await vi.waitFor(() => expect(published).toEqual(['watched', 'after']))
    expect(taken).toEqual(['alone', 'alone again', 'still alone', 'watched', 'after'])
  })

  it("acknowledges a device's messages in its order when the sink finishes them out of order", async () => {
    const gates: ReturnType<typeof deferred>[] = []
    const f = await startBrokerFixture({
      sink: () => {
        const gate = deferred()
        gates.push(gate)
        return gate.promise
      },
    })
    const device = await f.connect('el-1')
    const acked: string[] = []
    const publishing = ['first', 'second'].map((name) =>
      device.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1 }).then(() => {
        acked.push(name)
      }),
    )
    await vi.waitFor(() => expect(gates).toHaveLength(2))
    // The second is taken first: its PUBACK still waits for the first one's. (No round trip on the
    // connection can prove the wait: aedes reads nothing more from a client with two packets pending.)
    gates[1]?.resolve()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(acked).toEqual([])
    gates[0]?.resolve()
    await Promise.all(publishing)
    expect(acked).toEqual(['first', 'second'])
  })

  it("settles the messages that share the sink's promise (a batch) with one reaction, none left behind", async () => {
    let batch = deferred()
    // Counts the reactions the broker registers on the promise the sink hands it.
    let reactions = 0
    const watched = (promise: Promise<void>): Promise<void> => {
      const then = promise.then.bind(promise)
      vi.spyOn(promise, 'then').mockImplementation((...args) => {
        reactions += 1
        return then(...args) as never
      })
      return promise
    }
    let shared = watched(batch.promise)
    const taken: string[] = []
    const f = await startBrokerFixture({
      sink: (message) => {
        taken.push(message.clientId)
        return shared
      },
    })
    const ids = ['el-1', 'el-2']
    const devices = await Promise.all(ids.map((id) => f.connect(id)))
    const publishAll = (acked: string[]) =>
      devices.flatMap((device, i) =>
        [1, 2, 3].map((n) =>
          device.publishAsync(`v1/elevators/${ids[i]}/status`, STATUS, { qos: 1 }).then(() => {
            acked.push(`${ids[i]}#${n}`)
          }),
        ),
      )
    const acked: string[] = []
    const publishing = publishAll(acked)
    await vi.waitFor(() => expect(taken).toHaveLength(6))
    expect(reactions).toBe(1)
    expect(acked).toEqual([])
    batch.resolve()
    await Promise.all(publishing)
    expect(acked.sort()).toEqual(['el-1#1', 'el-1#2', 'el-1#3', 'el-2#1', 'el-2#2', 'el-2#3'])

    // The same promise, already settled, handed out again after its reaction ran: acknowledged anyway.
    await devices[0]?.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1 })
    await devices[1]?.publishAsync('v1/elevators/el-2/status', STATUS, { qos: 1 })
    expect(reactions).toBe(3)

    // A failed batch refuses every message in it: no PUBACK, the connections closed.
    batch = deferred()
    shared = watched(batch.promise)
    const none: string[] = []
    for (const publishing of publishAll(none)) publishing.catch(() => {})
    await vi.waitFor(() => expect(taken).toHaveLength(14))
    batch.reject(new Error('influx down and spool full'))
    await vi.waitFor(async () => expect(await f.metric('mqtt_device_sink_failures_total')).toBe(6))
    await vi.waitFor(() => expect(devices.map((d) => d.connected)).toEqual([false, false]))
    expect(none).toEqual([])
  })

  it('answers a sink failure with no PUBACK; mqtt.js resends after reconnecting and it is taken', async () => {
    const taken: string[] = []
    let failures = 1
    const f = await startBrokerFixture({
      sink: async (message) => {
        taken.push(message.payload.toString())
        if (failures > 0) {
          failures -= 1
          throw new Error('influx down and spool full')
        }
      },
    })
    const device = mqtt.connect(f.url, {
      clientId: 'el-1',
      username: 'el-1',
      password: f.secrets['el-1'],
      reconnectPeriod: 100,
    })
    onTestFinished(() => device.endAsync(true))
    let reconnects = 0
    device.on('reconnect', () => {
      reconnects += 1
    })
    expect(await connectOutcome(device)).toBeNull()
    await device.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1 })
    expect(taken).toEqual([STATUS, STATUS])
    expect(reconnects).toBeGreaterThanOrEqual(1)
    expect(await f.metric('mqtt_device_sink_failures_total')).toBe(1)
    expect(f.logs.some((l) => l.level === 50 && l.clientId === 'el-1')).toBe(true)
  })
})

describe('broker: retained messages and shutdown', () => {
  it('stores no retained message, and publishes no Last Will when the broker itself stops', async () => {
    const taken: string[] = []
    const f = await startBrokerFixture({
      sink: async (message) => {
        taken.push(`${message.topic} ${message.payload.toString()}`)
      },
    })
    const el1 = await f.connect('el-1')
    await el1.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1, retain: true })
    const service = await f.connect('ingest')
    await service.publishAsync('v1/elevators/el-1/commands', '{"cmd":"retained"}', { qos: 1, retain: true })
    // A subscriber arriving later gets no replay of either: its first message is a fresh one.
    const watcher = await f.connect('ingest', { clientId: 'ingest' })
    const seen = inbox(watcher)
    await watcher.subscribeAsync('v1/#', { qos: 1 })
    const device = await f.connect('el-1', { clientId: 'el-1' })
    const commands = inbox(device)
    await device.subscribeAsync('v1/elevators/el-1/commands', { qos: 1 })
    await device.publishAsync('v1/elevators/el-1/events', '{"fresh":true}', { qos: 1 })
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0))
    expect(seen[0]).toEqual({ topic: 'v1/elevators/el-1/events', payload: '{"fresh":true}' })
    expect(commands).toEqual([])

    const will = {
      topic: 'v1/elevators/el-2/events',
      payload: Buffer.from('{"will":true}'),
      qos: 1 as const,
      retain: false,
    }
    await f.connect('el-2', { will })
    await f.broker.stop()
    expect(taken).toEqual([`v1/elevators/el-1/status ${STATUS}`, 'v1/elevators/el-1/events {"fresh":true}'])
    expect(await f.metric('mqtt_publish_refused_total', { reason: 'broker_stopping' })).toBe(1)
  })
})

describe('broker: TLS and lifecycle', () => {
  it('serves MQTT over TLS to mqtt.js and mosquitto_pub', async () => {
    const { cert, key } = selfSignedCertificate()
    const f = await startBrokerFixture({
      env: { MQTT_TLS_CERT: cert, MQTT_TLS_KEY: key, MQTT_TLS_PORT: '0' },
    })
    const tlsPort = f.broker.tlsPort()
    expect(tlsPort).not.toBeNull()
    expect(tlsPort).not.toBe(f.broker.port())
    const watcher = await f.connect('ingest')
    await watcher.subscribeAsync('v1/#', { qos: 1 })
    const seen = inbox(watcher)

    const secure = await f.connect('el-1', { ca: readFileSync(cert) }, `mqtts://127.0.0.1:${tlsPort}`)
    await secure.publishAsync('v1/elevators/el-1/status', STATUS, { qos: 1 })
    const pub = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(tlsPort), '--cafile', cert],
      ...[
        '-i',
        'sc-1',
        '-u',
        'sc-1',
        '-P',
        f.secrets['sc-1'],
        '-t',
        'v1/scales/sc-1/status',
        '-q',
        '1',
        '-m',
        '{}',
      ],
    ])
    expect(pub.stderr).toBe('')
    expect(pub.code).toBe(0)
    await vi.waitFor(() =>
      expect(seen.map((m) => m.topic).sort()).toEqual(['v1/elevators/el-1/status', 'v1/scales/sc-1/status']),
    )
  })

  it('stops safely twice and refuses half a TLS configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'broker-life-'))
    const registry = createRegistry({ file: join(dir, 'registry.db'), scrypt: FAST_SCRYPT })
    onTestFinished(() => {
      registry.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const config = parseEnv(BrokerConfigSchema, { MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' })
    const broker = createBroker({ config, logger: silentLogger(), registry, metrics: new MetricsRegistry() })
    await broker.start()
    // a socket that never sends CONNECT does not hold stop() up
    const idle = connect(broker.port(), '127.0.0.1')
    await once(idle, 'connect')
    await broker.stop()
    await broker.stop()
    await expect(broker.publish('alerts/x', 'y')).rejects.toSatisfy((err) =>
      isDomainError(err, 'BROKER_NOT_RUNNING'),
    )

    expect(() => brokerTls({ ...config, MQTT_TLS_CERT: '/tmp/cert.pem' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    )
    expect(brokerTls({ ...config, MQTT_TLS_CERT: 'c', MQTT_TLS_KEY: 'k' })?.port).toBe(8883)
  })
})
