/**
 * A device's PUBACK waits until every subscriber of its message took it (aedes), so a subscriber that
 * stops reading would hold up every device's acknowledgements. MQTT_DRAIN_TIMEOUT_MS bounds that.
 */
import { once } from 'node:events'
import { connect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it, vi } from 'vitest'
import { startBrokerFixture } from './testing.ts'

const MESSAGES = 3000
// Large enough that 3,000 of them overfill the kernel's socket buffers of the frozen subscriber.
const PAYLOAD = JSON.stringify({ ts: 1_700_000_000_000, seq: 1, pad: 'x'.repeat(3500) })

describe('broker: a subscriber that stops reading', () => {
  it('is disconnected after MQTT_DRAIN_TIMEOUT_MS, and devices keep being acknowledged', async () => {
    const f = await startBrokerFixture({ env: { MQTT_DRAIN_TIMEOUT_MS: '500' } })
    // A service account subscribes to every reading at QoS 1, then never reads its socket again.
    const frozen = connect(f.broker.port(), '127.0.0.1')
    frozen.on('error', () => undefined)
    await once(frozen, 'connect')
    frozen.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: 'ingest',
        keepalive: 0,
        username: 'ingest',
        password: Buffer.from(f.secrets.ingest),
      }),
    )
    frozen.write(
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/#', qos: 1 }] }),
    )
    await vi.waitFor(() => expect(f.broker.aedes.connectedClients).toBe(1))
    await new Promise((resolve) => setTimeout(resolve, 200))
    frozen.pause()
    const closed = once(frozen, 'close')

    // Without a bound, acknowledgements stop after ~1,000 of these (aedes' default waits 60 s).
    const device = await f.connect('el-1')
    let acked = 0
    const started = performance.now()
    const inflight = new Set<Promise<void>>()
    for (let i = 0; i < MESSAGES && performance.now() - started < 20_000; i++) {
      const p: Promise<void> = device
        .publishAsync('v1/elevators/el-1/status', PAYLOAD, { qos: 1 })
        .then(() => {
          acked++
          inflight.delete(p)
        })
      inflight.add(p)
      if (inflight.size >= 50) await Promise.race([...inflight, new Promise((r) => setTimeout(r, 5000))])
    }
    await Promise.race([Promise.all(inflight), new Promise((r) => setTimeout(r, 5000))])
    expect(acked).toBe(MESSAGES)
    // The broker closed it; reading again, it sees the end of what was sent and the close.
    frozen.resume()
    await closed
    expect(await f.metric('mqtt_slow_clients_disconnected_total')).toBe(1)
    expect(
      f.logs.some((l) => l.level === 40 && l.clientId === 'ingest' && l.msg.includes('stopped taking data')),
    ).toBe(true)
    // The broker still serves a good subscriber.
    await f.assertServes()
  }, 40_000)
})
