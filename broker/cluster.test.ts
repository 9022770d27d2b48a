/**
 * Several brokers share one message emitter (mqemitter-redis in production; the in-memory mqemitter
 * stands in here): a reading published to one broker reaches a service account connected to another,
 * and the access rules hold on both.
 */
import mqemitter from 'mqemitter'
import { Registry as MetricsRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { NORMAL_ELEVATOR_STATUS } from '../test/support/payloads.ts'
import { createBroker } from './broker.ts'
import { BrokerConfigSchema } from './config.ts'
import { startBrokerFixture } from './testing.ts'

describe('brokers sharing an emitter', () => {
  it('deliver across brokers, with the same access rules', async () => {
    const mq = mqemitter()
    const a = await startBrokerFixture({ cluster: { mq, id: 'broker-a' } })
    const b = createBroker({
      config: parseEnv(BrokerConfigSchema, { MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }),
      logger: silentLogger(),
      registry: a.registry,
      metrics: new MetricsRegistry(),
      cluster: { mq, id: 'broker-b' },
    })
    onTestFinished(() => b.stop())
    await b.start()

    const service = await a.connect('ingest', {}, `mqtt://127.0.0.1:${b.port()}`)
    const received: string[] = []
    service.on('message', (topic) => received.push(topic))
    await service.subscribeAsync('v1/elevators/+/status', { qos: 1 })

    // A device on broker B may not read another device's readings, whichever broker they came through.
    const snoop = await a.connect('el-2', {}, `mqtt://127.0.0.1:${b.port()}`)
    await expect(snoop.subscribeAsync('v1/elevators/el-1/status', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    )

    const device = await a.connect('el-1')
    await device.publishAsync(
      'v1/elevators/el-1/status',
      JSON.stringify({ ...NORMAL_ELEVATOR_STATUS, ts: Date.now() }),
      {
        qos: 1,
      },
    )
    const deadline = Date.now() + 5000
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(received).toEqual(['v1/elevators/el-1/status'])
  })
})
