/**
 * The load generator's own process (forked by load-generator.ts): N device connections publishing
 * protocol v1 readings at QoS 1 with a bounded window of unacknowledged messages per device, timing
 * each message from publish to PUBACK. Kept out of the process under test so it does not share its
 * event loop.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { reportToParent, sendToParent } from './child-ipc.ts'
import type {
  DeviceResult,
  LoadDevice,
  LoadOptions,
  LoadResult,
  LoadToChild,
  LoadToParent,
} from './load-types.ts'
import { INVALID_KINDS, type InvalidKind, loadMessage } from './payloads.ts'
import { connectRaw } from './raw-mqtt.ts'

const send = (message: LoadToParent): void => sendToParent(message)

type DeviceConnection = {
  publish(topic: string, payload: Buffer | string, onAck: (err: Error | null) => void): void
  end(): Promise<void>
}

/** mqtt.js: the reference client. */
function connectMqttJs(
  url: string,
  device: LoadDevice,
  onError: (msg: string) => void,
): Promise<DeviceConnection> {
  return new Promise((resolve, reject) => {
    const client: MqttClient = mqtt.connect(url, {
      clientId: device.id,
      username: device.username,
      password: device.password,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 500,
      connectTimeout: 20_000,
      protocolVersion: 4,
    })
    let isConnected = false
    client.once('connect', () => {
      isConnected = true
      resolve({
        publish(topic, payload, onAck) {
          client.publish(topic, payload, { qos: 1 }, (err) => onAck(err ?? null))
        },
        end: () => client.endAsync().then(() => undefined),
      })
    })
    client.on('error', (err) => {
      if (!isConnected) {
        client.end(true)
        reject(err)
      } else onError(`${device.id}: ${err.message}`)
    })
  })
}

/** The lean benchmark connection (raw-mqtt.ts): the cheapest client that still speaks MQTT. */
function connectLean(url: string, device: LoadDevice): Promise<DeviceConnection> {
  const { hostname, port } = new URL(url)
  return connectRaw({
    host: hostname,
    port: Number(port || 1883),
    clientId: device.id,
    username: device.username,
    password: device.password,
    keepaliveS: 0,
    timeoutMs: 20_000,
  })
}

async function run(options: LoadOptions): Promise<LoadResult> {
  const errors: string[] = []
  const onError = (msg: string): void => {
    if (errors.length < 50) errors.push(msg)
  }
  const connectOne = (device: LoadDevice) =>
    options.client === 'raw' ? connectLean(options.url, device) : connectMqttJs(options.url, device, onError)
  const connections: DeviceConnection[] = []
  const concurrency = options.connectConcurrency ?? 50
  for (let i = 0; i < options.devices.length; i += concurrency) {
    const slice = options.devices.slice(i, i + concurrency)
    connections.push(...(await Promise.all(slice.map(connectOne))))
  }
  send({ type: 'connected' })
  await new Promise<void>((resolve) => {
    process.once('message', (m: LoadToChild) => {
      if (m.type === 'go') resolve()
    })
    send({ type: 'ready' })
  })

  const total = options.devices.length * options.messagesPerDevice
  const latencies = new Float64Array(total)
  let latencyCount = 0
  let ackedTotal = 0
  let publishedTotal = 0
  let lastAckAt = 0
  const startedAt = performance.now()
  const startSeq = options.startSeq ?? 0
  const invalidShare = options.invalidShare ?? 0
  const results: DeviceResult[] = options.devices.map((d) => ({
    id: d.id,
    published: 0,
    acked: 0,
    ackedValid: 0,
    ackedInvalid: Object.fromEntries(INVALID_KINDS.map((k) => [k, 0])) as Record<InvalidKind, number>,
    firstSeq: startSeq,
  }))
  const progress = setInterval(
    () => send({ type: 'progress', acked: ackedTotal, published: publishedTotal }),
    250,
  )

  await new Promise<void>((resolve) => {
    let devicesDone = 0
    const timers: NodeJS.Timeout[] = []
    const resolveAll = (): void => {
      // clearTimeout clears intervals too.
      for (const t of timers) clearTimeout(t)
      resolve()
    }
    options.devices.forEach((device, index) => {
      const connection = connections[index]
      const result = results[index]
      if (connection === undefined || result === undefined) return
      let next = 0
      let inflight = 0
      let allowed = options.ratePerDeviceHz ? 0 : Number.POSITIVE_INFINITY
      let isDone = false
      const fill = (): void => {
        while (inflight < options.inflightPerDevice && next < options.messagesPerDevice && next < allowed) {
          const seq = startSeq + next++
          const message = loadMessage(
            { id: device.id, kind: device.kind, index },
            seq,
            Date.now(),
            invalidShare,
          )
          const t0 = performance.now()
          inflight++
          result.published++
          publishedTotal++
          connection.publish(message.topic, message.payload, (err) => {
            inflight--
            if (err) onError(`${device.id} seq ${seq}: ${err.message}`)
            else {
              const t1 = performance.now()
              latencies[latencyCount++] = t1 - t0
              lastAckAt = t1
              ackedTotal++
              result.acked++
              if (message.invalid === null) result.ackedValid++
              else result.ackedInvalid[message.invalid]++
            }
            fill()
          })
        }
        if (!isDone && next >= options.messagesPerDevice && inflight === 0) {
          isDone = true
          devicesDone++
          if (devicesDone === options.devices.length) resolveAll()
        }
      }
      if (options.ratePerDeviceHz) {
        // Spread devices over the period so that they do not all publish in the same tick.
        const periodMs = 1000 / options.ratePerDeviceHz
        const start = setTimeout(
          () => {
            allowed++
            fill()
            timers.push(
              setInterval(() => {
                allowed++
                fill()
              }, periodMs),
            )
          },
          (index * periodMs) / options.devices.length,
        )
        timers.push(start)
      } else fill()
    })
    if (options.devices.length === 0) resolveAll()
    const deadline = options.maxDurationMs
    if (deadline !== undefined) {
      timers.push(
        setTimeout(() => {
          onError(`stopped after ${deadline} ms with ${publishedTotal - ackedTotal} messages unacknowledged`)
          resolveAll()
        }, deadline),
      )
    }
  })
  clearInterval(progress)
  const durationMs = (lastAckAt || performance.now()) - startedAt
  const sorted = latencies.subarray(0, latencyCount).sort()
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  await Promise.all(connections.map((c) => c.end().catch(() => undefined)))
  return {
    devices: results,
    publishedTotal,
    ackedTotal,
    durationMs,
    ratePerS: durationMs > 0 ? (ackedTotal / durationMs) * 1000 : 0,
    latencyMs: { p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: sorted.length ? pick(1) : 0 },
    errors,
  }
}

process.once('message', (m: LoadToChild) => {
  if (m.type !== 'start') return
  reportToParent(run(m.options), (err) => (err instanceof Error ? err.message : String(err)))
})
