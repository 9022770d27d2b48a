/**
 * The sequencer's logic against a stand-in for the two aedes parts it wraps: publish(), which numbers a
 * message synchronously and emits it later, and the emitter. The real case (aedes, Redis, two sessions)
 * is in cluster-redis.test.ts.
 */
import type { Aedes } from 'aedes'
import { describe, expect, it } from 'vitest'
import { emitInOrder } from './emit-in-order.ts'

type Packet = { topic: string; brokerId?: string; brokerCounter?: number }
type Done = (err?: Error | null) => void

/** publish() numbers the packet and parks it; the test decides when each one reaches the emitter. */
function standIn() {
  const emitted: string[] = []
  const parked = new Map<string, { packet: Packet; done: Done | undefined }>()
  const fake = {
    id: 'broker-1',
    counter: 0,
    mq: {
      emit(packet: Packet, done?: Done) {
        emitted.push(packet.topic)
        done?.()
      },
    },
    publish(packet: Packet, _client: unknown, done?: Done) {
      if (packet.topic.startsWith('refuse-early')) {
        done?.(new Error('too many levels'))
        return
      }
      const numbered = { ...packet, brokerId: fake.id, brokerCounter: packet.brokerCounter ?? ++fake.counter }
      parked.set(packet.topic, { packet: numbered, done })
    },
  }
  const aedes = fake as unknown as Aedes
  const publishes: string[] = []
  return {
    aedes,
    emitted,
    publishes,
    publish(topic: string, brokerCounter?: number): void {
      aedes.publish({ topic, brokerCounter } as never, (err) =>
        publishes.push(`${topic}:${err ? 'error' : 'ok'}`),
      )
    },
    /** The packet reaches the emitter (as aedes' emitPacket step), then aedes finishes its publish. */
    reachEmitter(topic: string): void {
      const entry = parked.get(topic)
      if (entry === undefined) throw new Error(`nothing parked for ${topic}`)
      parked.delete(topic)
      fake.mq.emit(entry.packet, () => entry.done?.())
    },
    fail(topic: string): void {
      const entry = parked.get(topic)
      parked.delete(topic)
      entry?.done?.(new Error('persistence failed'))
    },
  }
}

describe('emitInOrder', () => {
  it('holds a message that overtook an earlier one until the earlier one is emitted', () => {
    const s = standIn()
    const sequencer = emitInOrder(s.aedes)
    s.publish('one')
    s.publish('two')
    s.publish('three')
    s.reachEmitter('three')
    s.reachEmitter('two')
    expect(s.emitted).toEqual([])
    expect(sequencer.waiting()).toBe(3)
    s.reachEmitter('one')
    expect(s.emitted).toEqual(['one', 'two', 'three'])
    // each publish finished once its message was emitted
    expect(s.publishes).toEqual(['one:ok', 'two:ok', 'three:ok'])
    expect(sequencer.waiting()).toBe(0)
    sequencer.close()
  })

  it('stops waiting for a message whose publish failed, or was refused before it was numbered', () => {
    const s = standIn()
    const sequencer = emitInOrder(s.aedes)
    s.publish('one')
    s.publish('refuse-early')
    s.publish('two')
    s.reachEmitter('two')
    expect(s.emitted).toEqual([])
    s.fail('one')
    expect(s.emitted).toEqual(['two'])
    // the failure lets 'two' out first, then 'one' reports its error
    expect(s.publishes).toEqual(['refuse-early:error', 'two:ok', 'one:error'])
    sequencer.close()
  })

  it('emits a large window in number order whatever order its messages reach the emitter in', () => {
    const s = standIn()
    const sequencer = emitInOrder(s.aedes)
    const topics: string[] = []
    for (let i = 0; i < 600; i++) {
      // every 7th publish is refused before it is numbered: its number goes to the next message
      if (i % 7 === 3) s.publish(`refuse-early-${i}`)
      else {
        s.publish(`m${i}`)
        topics.push(`m${i}`)
      }
    }
    expect(sequencer.waiting()).toBe(topics.length)
    // a fixed shuffle (linear congruential), the first message last
    const order = topics.slice(1)
    let seed = 42
    for (let i = order.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      const j = seed % (i + 1)
      ;[order[i], order[j]] = [order[j] as string, order[i] as string]
    }
    for (const topic of order) s.reachEmitter(topic)
    expect(s.emitted).toEqual([])
    s.reachEmitter('m0')
    expect(s.emitted).toEqual(topics)
    expect(sequencer.waiting()).toBe(0)
    sequencer.close()
  })

  it('lets a message that already has a number, or is not its own, through at once', () => {
    const s = standIn()
    const sequencer = emitInOrder(s.aedes)
    s.publish('one')
    s.publish('forwarded', 7) // numbered elsewhere: not one of this broker's new numbers
    s.reachEmitter('forwarded')
    expect(s.emitted).toEqual(['forwarded'])
    const mq = Reflect.get(s.aedes, 'mq') as { emit(p: Packet): void }
    mq.emit({ topic: 'other-broker', brokerId: 'broker-2', brokerCounter: 1 })
    expect(s.emitted).toEqual(['forwarded', 'other-broker'])
    s.reachEmitter('one')
    expect(s.emitted).toEqual(['forwarded', 'other-broker', 'one'])
    sequencer.close()
  })

  it('passes over a publish that stalls, reports it, and sends it at once if it comes later', () => {
    const s = standIn()
    let clock = 0
    const stalls: number[] = []
    const sequencer = emitInOrder(s.aedes, {
      stallMs: 1000,
      now: () => clock,
      onStall: (counter) => stalls.push(counter),
    })
    s.publish('stuck')
    s.publish('next')
    s.reachEmitter('next')
    clock = 999
    s.publish('third') // any release checks the head
    expect(s.emitted).toEqual([])
    clock = 1000
    s.reachEmitter('third')
    expect(s.emitted).toEqual(['next', 'third'])
    expect(stalls).toEqual([1])
    s.reachEmitter('stuck')
    expect(s.emitted).toEqual(['next', 'third', 'stuck'])
    sequencer.close()
  })

  it('checks for a stall on a timer too, with nothing else happening', async () => {
    const s = standIn()
    const stalls: number[] = []
    const sequencer = emitInOrder(s.aedes, { stallMs: 200, onStall: (counter) => stalls.push(counter) })
    s.publish('stuck')
    s.publish('next')
    s.reachEmitter('next')
    await new Promise((r) => setTimeout(r, 600))
    expect(stalls).toEqual([1])
    expect(s.emitted).toEqual(['next'])
    sequencer.close()
  })
})
