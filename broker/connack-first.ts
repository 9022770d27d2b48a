/**
 * CONNACK first [MQTT-3.2.0-1]. aedes restores a persistent session's subscriptions before it sends the
 * CONNACK, and writes to a client that is still connecting: a message published in that window (with
 * Redis between brokers the window is a few round trips) reaches the client before its CONNACK. mqtt.js
 * then deadlocks: it queues the PUBACK until it is connected and reads nothing more, the CONNACK
 * included, until that PUBACK is sent.
 *
 * The gate holds such deliveries and makes them once the CONNACK is out. It answers the emitter at once
 * rather than when the message is written, so a slow connect never holds the emitter's slots (shared by
 * every client); a QoS 1 message for a persistent session is in the session store anyway, and one for a
 * client that never gets its CONNACK goes with the connection (a WeakMap: nothing to clean up).
 */
import type { Client } from 'aedes'

type Deliver = (packet: unknown, done: () => void) => void
type Held = { deliver: Deliver; packet: unknown }
type DeliveryName = 'deliverQoS' | 'deliver0'
/** A connecting client's held deliveries, and its own deliver functions to put back at release. */
type Gate = { queue: Held[]; originals: Array<[DeliveryName, Deliver]> }

/** Deliveries held for one connecting client, at most; more are dropped (the session keeps QoS 1). */
const MAX_HELD = 1000

const noop = (): void => undefined

export function createConnackGate() {
  const held = new WeakMap<Client, Gate>()

  function wrap(client: Client, name: DeliveryName, gate: Gate): void {
    const original: unknown = Reflect.get(client, name)
    if (typeof original !== 'function') return
    const deliver = original as Deliver
    gate.originals.push([name, deliver])
    Reflect.set(client, name, (packet: unknown, done: () => void): void => {
      const pending = held.get(client)
      if (pending === undefined) {
        deliver(packet, done)
        return
      }
      if (pending.queue.length < MAX_HELD) pending.queue.push({ deliver, packet })
      done()
    })
  }

  return {
    /** From preConnect on (before aedes restores any subscription), until release. */
    hold(client: Client): void {
      const gate: Gate = { queue: [], originals: [] }
      held.set(client, gate)
      wrap(client, 'deliverQoS', gate)
      wrap(client, 'deliver0', gate)
    },
    /** The CONNACK is written: deliver what was held, in order, and every later message at once. */
    release(client: Client): void {
      const gate = held.get(client)
      if (gate === undefined) return
      held.delete(client)
      // Subscriptions made from now on take aedes' own functions: the wrappers, kept only by those
      // restored while connecting, would otherwise live as long as the connection (a device's is days).
      for (const [name, deliver] of gate.originals) Reflect.set(client, name, deliver)
      for (const { deliver, packet } of gate.queue) deliver(packet, noop)
    },
  }
}
