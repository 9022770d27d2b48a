/**
 * Emits a broker's messages in the order it numbered them.
 *
 * aedes numbers every message it publishes (`brokerId`, `brokerCounter`) and, per subscriber, drops a
 * message whose number is not above the last one it delivered from that broker (lib/client.js
 * `dedupe`: one copy per message, across overlapping filters and session replays). That holds only if
 * each broker hands its messages to the emitter in number order, and it does not: between numbering and
 * emitting, a QoS 1 message is queued for every offline-capable subscriber, and with
 * aedes-persistence-redis that costs one Redis round trip per subscriber. A reading matched by ingest's
 * and alerts' filters overtakes nothing, one matched by ingest's alone overtakes it, and ingest then
 * silently drops the first: acknowledged to its device, queued in ingest's Redis session, never
 * delivered (the readings "stranded" in the cluster benchmark). QoS 0 messages, which skip the queueing,
 * overtake the same way.
 *
 * The sequencer holds a numbered message at the emitter until every message numbered before it on this
 * broker was emitted or given up (its publish failed). One whose publish hangs (aedes never completes a
 * publish whose subscriber lookup failed) is passed over after `stallMs`, counted and logged, so it
 * cannot stop the broker; if it comes later it goes out at once, out of order as before.
 */
import type { Aedes } from 'aedes'

type Done = (err?: Error | null) => void
type Emit = (packet: Numbered, done?: Done) => unknown
type Numbered = { brokerId?: string; brokerCounter?: number }
type Publish = (packet: Numbered, client: unknown, done?: Done) => void

type Slot = {
  counter: number
  since: number
  /** The emitter was called for it; it goes out when every earlier slot is done. */
  ready: boolean
  /** Emitted, failed, refused or passed over: no longer waited on. */
  gone: boolean
  packet: Numbered | null
  done: Done | undefined
}

export type EmitInOrderOptions = {
  /** A message waited on longer than this is passed over (ms). */
  stallMs?: number
  onStall?: (counter: number, waitedMs: number) => void
  now?: () => number
}

export type EmitSequencer = {
  /** Messages numbered and not yet emitted or given up. */
  waiting(): number
  /** Stops the stall check; messages already held go out. */
  close(): void
}

const DEFAULT_STALL_MS = 30_000

export function emitInOrder(aedes: Aedes, options: EmitInOrderOptions = {}): EmitSequencer {
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS
  const now = options.now ?? Date.now
  const mq = Reflect.get(aedes, 'mq') as { emit: Emit }
  const emit: Emit = mq.emit.bind(mq)
  const publish: Publish = (aedes.publish as unknown as Publish).bind(aedes)
  const counterOf = (): number => (aedes as unknown as { counter: number }).counter

  // Slots in number order (numbers only grow); `head` indexes the oldest still waited on. A slot leaves
  // the array as soon as it is done: held there, a message would outlive the young generation and
  // reach the old one (+150 MiB of peak RSS in the district profile when slots stayed until a compaction).
  // No Map by number beside it: a long-lived Map that takes and drops an entry per message rehashes
  // into tables V8 allocates straight in the old generation (11 % of what the platform promoted).
  let queue: (Slot | undefined)[] = []
  let head = 0
  let live = 0
  let closed = false

  /** The slot waited on for `counter`: a binary search of the queue, in number order. */
  function find(counter: number): Slot | undefined {
    let lo = head
    let hi = queue.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const slot = queue[mid]
      // Emptied entries sit only before `head`; a refused slot may share its number with the next.
      if (slot === undefined || slot.counter < counter) lo = mid + 1
      else if (slot.counter > counter) hi = mid - 1
      else {
        // Of the (at most a few) slots with this number, the one still waited on.
        let first = mid
        while (first > head && queue[first - 1]?.counter === counter) first--
        for (let i = first; i < queue.length && queue[i]?.counter === counter; i++) {
          if (queue[i]?.gone === false) return queue[i]
        }
        return undefined
      }
    }
    return undefined
  }

  function drop(slot: Slot): void {
    if (slot.gone) return
    slot.gone = true
    live--
  }

  function release(): void {
    while (head < queue.length) {
      const slot = queue[head]
      if (slot === undefined || slot.gone) {
        queue[head++] = undefined // given up
        continue
      }
      if (slot.ready) {
        const { packet, done } = slot
        slot.packet = null
        slot.done = undefined
        drop(slot)
        queue[head++] = undefined
        if (packet !== null) emit(packet, done)
        continue
      }
      const waited = now() - slot.since
      if (!closed && waited < stallMs) break
      drop(slot)
      queue[head++] = undefined
      if (!closed) options.onStall?.(slot.counter, waited)
    }
    if (head >= queue.length) {
      queue.length = 0
      head = 0
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
  }

  Reflect.set(aedes, 'publish', (packet: Numbered, client: unknown, done?: Done): void => {
    if (typeof client === 'function') {
      done = client as Done
      client = null
    }
    // aedes numbers a message in publish() itself, synchronously, unless it already has a number.
    const numbered = !packet.brokerCounter
    const counter = counterOf() + 1
    let slot: Slot | null = null
    if (numbered && !closed) {
      slot = { counter, since: now(), ready: false, gone: false, packet: null, done: undefined }
      queue.push(slot)
      live++
    }
    publish(packet, client, (err?: Error | null) => {
      // Finished without being emitted (refused, failed): nothing to wait for.
      if (slot !== null && !slot.ready && !slot.gone) {
        drop(slot)
        release()
      }
      done?.(err)
    })
    if (slot !== null && counterOf() < counter && !slot.gone) {
      // Refused before it was numbered (too many topic levels).
      drop(slot)
      release()
    }
  })

  mq.emit = (packet: Numbered, done?: Done): unknown => {
    const slot = packet.brokerId === aedes.id ? find(packet.brokerCounter ?? 0) : undefined
    if (slot === undefined) return emit(packet, done)
    slot.ready = true
    slot.packet = packet
    slot.done = done
    release()
    return mq
  }

  const timer = setInterval(release, Math.max(100, Math.min(1000, stallMs / 4)))
  timer.unref()

  return {
    waiting: () => live,
    close(): void {
      closed = true
      clearInterval(timer)
      release()
    },
  }
}
