/**
 * Watches trapped-passenger alerts as a machine consumer does: a service account subscribed to
 * `alerts/+/trapped/+` on the platform's broker (QoS 1). Each raised alert is matched with the time
 * the load generator published the message that completed its condition:
 *
 * - derived (no `trapped` event): the alert is due TRAPPED_AFTER_S after the first status showing
 *   stopped + door closed + occupied; latency = arrival - (that publish time + TRAPPED_AFTER_S);
 * - event: latency = arrival - publish time of the controller's `trapped` event.
 *
 * "raise" latencies use the alert's own `at` (when the engine raised it) instead of the arrival here.
 * These are from the generator's publish; `brokerReceiveTimes` re-bases them on the broker's receive
 * time of the completing message (stored with the reading as `received_at`).
 */
import mqtt from 'mqtt'
import { AlertChangeSchema } from '../../domain/alert-change.ts'
import type { ConditionTimes } from './sim-load-types.ts'

export type AlertSample = {
  deviceId: string
  variant: 'derived' | 'event'
  /** When the generator published the completing message (wall clock, ms). */
  publishedAt: number
  /** Due time (condition complete) -> arrival at the watcher, ms. */
  deliveredMs: number
  /** Due time -> the engine's raise time (`at` of the change), ms. */
  raisedMs: number
  /** Arrival at the watcher and the engine's raise time (wall clock, ms). */
  arrival: number
  raisedAt: number
}

export type AlertWatch = {
  /** The generator reports a condition it completed (called from the load's onCondition hook). */
  condition(times: ConditionTimes): void
  samples(): AlertSample[]
  /** Conditions completed before `before` (wall ms) with no raised alert seen. */
  missing(before: number): string[]
  /** Devices with trapped alerts nobody injected (the simulated traffic's own). */
  unexpected(): number
  stop(): Promise<void>
}

export async function startAlertWatch(options: {
  url: string
  username: string
  password: string
  trappedAfterS: number
}): Promise<AlertWatch> {
  /** Conditions not yet matched: when the completing message was published, when the alert is due. */
  const conditions = new Map<string, { start: number; due: number; variant: 'derived' | 'event' }>()
  const injected = new Set<string>()
  /** Trapped alert changes seen (raised, or repeated when one was still open), by device. */
  const changes = new Map<string, Array<{ arrival: number; at: number }>>()
  const samples: AlertSample[] = []

  const match = (deviceId: string): void => {
    const c = conditions.get(deviceId)
    if (!c) return
    // The first change after the condition's message was published: not one left from before.
    const r = changes.get(deviceId)?.find((x) => x.arrival >= c.start)
    if (!r) return
    samples.push({
      deviceId,
      variant: c.variant,
      publishedAt: c.start,
      deliveredMs: r.arrival - c.due,
      raisedMs: r.at - c.due,
      arrival: r.arrival,
      raisedAt: r.at,
    })
    conditions.delete(deviceId)
  }

  const client = mqtt.connect(options.url, {
    clientId: options.username,
    username: options.username,
    password: options.password,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 60_000,
  })
  client.on('message', (_topic, payload) => {
    const arrival = performance.timeOrigin + performance.now()
    let change: ReturnType<typeof AlertChangeSchema.parse>
    try {
      change = AlertChangeSchema.parse(JSON.parse(payload.toString('utf8')))
    } catch {
      return
    }
    if (change.type !== 'trapped') return
    if (change.transition !== 'raised' && change.transition !== 'repeated') return
    const list = changes.get(change.deviceId) ?? []
    list.push({ arrival, at: change.at })
    changes.set(change.deviceId, list)
    match(change.deviceId)
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      client.subscribe('alerts/+/trapped/+', { qos: 1 }, (err) => (err ? reject(err) : resolve()))
    })
    client.once('error', reject)
  })

  return {
    condition(times) {
      const start = times.variant === 'event' ? times.eventAt : times.statusAt
      if (start === null) return
      const due = times.variant === 'event' ? start : start + options.trappedAfterS * 1000
      injected.add(times.deviceId)
      conditions.set(times.deviceId, { start, due, variant: times.variant })
      // An alert can arrive before the generator's report of the condition (IPC is slower than MQTT).
      match(times.deviceId)
    },
    samples: () => [...samples],
    missing: (before) => [...conditions.entries()].filter(([, c]) => c.due < before).map(([id]) => id),
    unexpected: () => [...changes.keys()].filter((id) => !injected.has(id)).length,
    stop: () => client.endAsync().then(() => undefined),
  }
}

/**
 * Re-bases samples on when the broker received the completing message: the `received_at` InfluxDB
 * keeps with every reading. `transitMs` is publish -> receive (generator, network, broker's socket).
 */
export async function brokerReceiveTimes(
  samples: AlertSample[],
  query: (q: string) => Promise<Array<{ values: unknown[][] }>>,
  trappedAfterS: number,
): Promise<Array<AlertSample & { transitMs: number }>> {
  const out: Array<AlertSample & { transitMs: number }> = []
  for (const s of samples) {
    const from = Math.floor(s.publishedAt) - 2000
    const to = Math.ceil(s.publishedAt) + 1000
    const where = `device_id = '${s.deviceId}' AND time >= ${from}ms AND time <= ${to}ms`
    const q =
      s.variant === 'event'
        ? `SELECT received_at FROM elevator_event WHERE ${where} AND code = 'trapped' LIMIT 1`
        : `SELECT received_at FROM elevator_status WHERE ${where} AND direction = 'stopped' AND door = 'closed' AND occupied = true LIMIT 1`
    const receivedAt = Number((await query(q))[0]?.values[0]?.[1])
    if (!Number.isFinite(receivedAt)) continue
    const due = s.variant === 'event' ? receivedAt : receivedAt + trappedAfterS * 1000
    out.push({
      ...s,
      deliveredMs: s.arrival - due,
      raisedMs: s.raisedAt - due,
      transitMs: receivedAt - s.publishedAt,
    })
  }
  return out
}
