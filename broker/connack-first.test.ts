/**
 * The CONNACK gate's logic with a stand-in client (the real case, a reading arriving while a persistent
 * session is restored, is in cluster-redis.test.ts, where it shows under load).
 */
import type { Client } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createConnackGate } from './connack-first.ts'

function fakeClient() {
  const written: string[] = []
  const client = {
    deliverQoS: (packet: { n: string }, done: () => void) => {
      written.push(`qos:${packet.n}`)
      done()
    },
    deliver0: (packet: { n: string }, done: () => void) => {
      written.push(`0:${packet.n}`)
      done()
    },
  }
  return { client, written, asClient: client as unknown as Client }
}

describe('connack gate', () => {
  it('holds deliveries until the CONNACK, answers the emitter at once, then delivers them in order', () => {
    const gate = createConnackGate()
    const { client, written, asClient } = fakeClient()
    gate.hold(asClient)
    let answered = 0
    client.deliverQoS({ n: 'a' }, () => answered++)
    client.deliver0({ n: 'b' }, () => answered++)
    expect(written).toEqual([])
    expect(answered).toBe(2)

    gate.release(asClient)
    expect(written).toEqual(['qos:a', '0:b'])
    client.deliverQoS({ n: 'c' }, () => answered++)
    expect(written).toEqual(['qos:a', '0:b', 'qos:c'])
    expect(answered).toBe(3)
  })

  it("puts the client's own functions back at release; one taken while connecting passes through", () => {
    const gate = createConnackGate()
    const { client, written, asClient } = fakeClient()
    const own = client.deliverQoS
    gate.hold(asClient)
    const captured = client.deliverQoS // as a subscription restored while connecting keeps it
    expect(captured).not.toBe(own)
    captured({ n: 'held' }, () => undefined)
    gate.release(asClient)
    expect(client.deliverQoS).toBe(own)
    captured({ n: 'after' }, () => undefined)
    expect(written).toEqual(['qos:held', 'qos:after'])
  })

  it('leaves other clients alone and a second release does nothing', () => {
    const gate = createConnackGate()
    const held = fakeClient()
    const other = fakeClient()
    gate.hold(held.asClient)
    other.client.deliverQoS({ n: 'x' }, () => undefined)
    held.client.deliverQoS({ n: 'y' }, () => undefined)
    expect(other.written).toEqual(['qos:x'])
    gate.release(held.asClient)
    gate.release(held.asClient)
    expect(held.written).toEqual(['qos:y'])
  })
})
