/**
 * One process of the simulator-driven load (forked by sim-load.ts): the simulators' own elevator and
 * scale models (simulators/elevator.ts, scale.ts: calls by time of day, doors, travel, weighings,
 * faults), each device on its own lean MQTT connection with its registry credentials, QoS 1, every
 * message timed from publish to PUBACK. Trapped-passenger sequences are injected at known times and
 * the publish time of the message that completes each condition is reported to the parent.
 */
import type { UplinkType } from '../../domain/topics.ts'
import { UPLINK_TYPES, uplinkTopic } from '../../domain/topics.ts'
import { createElevatorSim, type ElevatorSim, type ElevatorSimOptions } from '../../simulators/elevator.ts'
import { createRng } from '../../simulators/random.ts'
import { createScaleSim, type ScaleSim } from '../../simulators/scale.ts'
import type { SimMessage } from '../../simulators/sim-core.ts'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'
import { reportToParent, sendToParent } from './child-ipc.ts'
import { createHistogram, toSparse } from './histogram.ts'
import { isTraced, traceKey } from './influx-proxy.ts'
import { ConnectError, connectRaw, type RawConnection } from './raw-mqtt.ts'
import type {
  ConditionTimes,
  SimLoadOptions,
  SimLoadProgress,
  SimLoadResult,
  SimToChild,
  SimToParent,
  TrappedInjection,
  TypeCounts,
} from './sim-load-types.ts'

const send = (message: SimToParent): void => sendToParent(message)

/** No random incidents in an elevator that gets a trapped sequence: nothing else holds the car. */
const QUIET_ELEVATOR: Partial<ElevatorSimOptions> = {
  faultsPerHour: 0,
  alarmsPerHour: 0,
  modeChangesPerHour: 0,
  maintenancePerHour: 0,
  trappedPerHour: 0,
  offlinePerHour: 0,
}

type Device = {
  spec: SimulatedDeviceSpec
  index: number
  conn: RawConnection | null
  isTraced: boolean
  sim: ElevatorSim | ScaleSim | null
  injection: TrappedInjection | null
  condition: ConditionTimes | null
}

function emptyByType(): Record<UplinkType, TypeCounts> {
  return Object.fromEntries(UPLINK_TYPES.map((t) => [t, { published: 0, acked: 0 }])) as Record<
    UplinkType,
    TypeCounts
  >
}

async function run(o: SimLoadOptions): Promise<SimLoadResult> {
  const root = createRng(o.seed)
  const injections = new Map(o.injections.map((i) => [i.deviceId, i]))
  const devices: Device[] = o.devices.map((spec, index) => ({
    spec,
    index,
    conn: null,
    isTraced: isTraced(spec.id, o.traceEvery ?? 0),
    sim: null,
    injection: injections.get(spec.id) ?? null,
    condition: null,
  }))
  const byType = emptyByType()
  const histogram = createHistogram()
  let windowHistogram = createHistogram()
  let isTimelineOn = false
  const dropReasons: Record<string, number> = {}
  const connectErrors: Record<string, number> = {}
  let attempted = 0
  let connected = 0
  let connectFailed = 0
  let dropped = 0
  let published = 0
  let acked = 0
  let publishFailed = 0
  let goAt = Number.POSITIVE_INFINITY
  let measureFrom = Number.POSITIVE_INFINITY
  let measuredAcked = 0
  let isRunning = true
  const traced: [string, number][] = []

  const progress = (): SimLoadProgress => ({ attempted, connected, connectFailed, published, acked })
  const progressTimer = setInterval(() => send({ type: 'progress', ...progress() }), 500)

  function createSim(d: Device, startAt: number): ElevatorSim | ScaleSim {
    const rng = root.fork(d.spec.id)
    const { spec } = d
    if (spec.kind === 'elevator') {
      return createElevatorSim({
        spec: {
          id: spec.id,
          ratedSpeedMps: spec.ratedSpeedMps ?? 1.75,
          floors: spec.floors ?? 18,
          statusPeriodS: spec.statusPeriodS,
        },
        rng,
        startAt,
        options: d.injection ? { ...o.elevator, ...QUIET_ELEVATOR } : o.elevator,
      })
    }
    return createScaleSim({
      spec: { id: spec.id, maxKg: spec.maxKg ?? 15, eG: spec.eG ?? 5, statusPeriodS: spec.statusPeriodS },
      rng,
      startAt,
      options: o.scale,
    })
  }

  function noteCondition(d: Device, m: SimMessage, at: number): void {
    const c = d.condition
    if (c === null) return
    let isChanged = false
    if (c.statusAt === null && m.type === 'elevator_status') {
      const s = m.payload
      if (s.direction === 'stopped' && s.door === 'closed' && (s.occupied || s.alarmButton)) {
        c.statusAt = at
        isChanged = true
      }
    } else if (c.eventAt === null && m.type === 'elevator_event' && m.payload.code === 'trapped') {
      c.eventAt = at
      isChanged = true
    }
    const isComplete = c.statusAt !== null && (c.variant === 'derived' || c.eventAt !== null)
    if (isChanged && isComplete) send({ type: 'condition', times: { ...c } })
  }

  function publish(d: Device, messages: SimMessage[]): void {
    const conn = d.conn
    if (conn === null) return
    for (const m of messages) {
      // The simulators ran at the chosen hour; the platform sees the present.
      m.payload.ts -= o.simOffsetMs
      const payload = Buffer.from(JSON.stringify(m.payload))
      const counts = byType[m.type]
      const t0 = performance.now()
      const isMeasured = t0 >= measureFrom
      counts.published++
      published++
      noteCondition(d, m, performance.timeOrigin + t0)
      if (d.isTraced && isMeasured)
        traced.push([traceKey(d.spec.id, m.payload.seq), performance.timeOrigin + t0])
      conn.publish(uplinkTopic(m.type, d.spec.id), payload, (err) => {
        if (err) {
          publishFailed++
          return
        }
        acked++
        counts.acked++
        if (isTimelineOn) windowHistogram.record(performance.now() - t0)
        if (isMeasured) {
          histogram.record(performance.now() - t0)
          measuredAcked++
        }
      })
    }
  }

  function startDevice(d: Device, at: number): void {
    d.sim = createSim(d, at + o.simOffsetMs)
    publish(d, d.sim.drain())
  }

  // ---- connect ----
  async function connectOne(d: Device): Promise<void> {
    attempted++
    let lastError = ''
    for (let attempt = 1; attempt <= o.connectAttempts; attempt++) {
      try {
        const conn = await connectRaw({
          host: o.host,
          port: o.ports && o.ports.length > 0 ? (o.ports[d.index % o.ports.length] ?? o.port) : o.port,
          localAddress:
            o.sourceAddresses.length > 0 ? o.sourceAddresses[d.index % o.sourceAddresses.length] : undefined,
          clientId: d.spec.id,
          username: d.spec.id,
          password: d.spec.secret,
          keepaliveS: o.keepaliveS,
          timeoutMs: o.connectTimeoutMs,
        })
        d.conn = conn
        connected++
        conn.onClose((reason) => {
          if (isRunning) {
            dropped++
            dropReasons[reason] = (dropReasons[reason] ?? 0) + 1
          }
          d.conn = null
          connected--
        })
        if (o.isReportingOnConnect) startDevice(d, Date.now())
        return
      } catch (err) {
        lastError =
          err instanceof ConnectError && err.code !== null
            ? `CONNACK ${err.code}`
            : err instanceof Error
              ? err.message.replace(`${d.spec.id}: `, '').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'addr')
              : String(err)
        if (attempt < o.connectAttempts) await new Promise((r) => setTimeout(r, 500 * attempt))
      }
    }
    connectFailed++
    if (Object.keys(connectErrors).length < 20 || lastError in connectErrors) {
      connectErrors[lastError] = (connectErrors[lastError] ?? 0) + 1
    }
    throw new Error(lastError)
  }

  let next = 0
  let failuresInARow = 0
  const worker = async (): Promise<void> => {
    while (next < devices.length && failuresInARow < o.giveUpAfterFailures) {
      const d = devices[next++]
      if (d === undefined) return
      try {
        await connectOne(d)
        failuresInARow = 0
      } catch {
        failuresInARow++
      }
    }
  }

  // ---- run: devices advanced in phase groups, keepalive pings, injections ----
  let tickCount = 0
  const phaseMs = o.tickMs / o.phases
  const tickTimer = setInterval(() => {
    const phase = tickCount++ % o.phases
    const t = Date.now()
    for (let i = phase; i < devices.length; i += o.phases) {
      const d = devices[i]
      if (d === undefined || d.conn === null) continue
      if (d.sim === null) {
        // Waiting for go, then for its slot in the start spread.
        if (o.isReportingOnConnect || t < goAt + (d.index / devices.length) * o.startSpreadMs) continue
        startDevice(d, t)
        continue
      }
      try {
        publish(d, d.sim.advance(t + o.simOffsetMs))
      } catch (err) {
        send({ type: 'failed', error: `simulator ${d.spec.id}: ${String(err)}` })
      }
    }
  }, phaseMs)
  const keepaliveMs = (o.keepaliveS * 1000) / 2
  const pingTimer =
    o.keepaliveS > 0
      ? setInterval(() => {
          const t = Date.now()
          for (const d of devices) d.conn?.pingIfIdle(t, keepaliveMs)
        }, 5000)
      : null

  const workers = Array.from({ length: Math.max(1, o.connectConcurrency) }, worker)
  await Promise.all(workers)
  send({ type: 'connected', ...progress() })

  await new Promise<void>((resolve) => {
    const onGo = (m: SimToChild): void => {
      if (m.type !== 'go') return
      process.off('message', onGo)
      resolve()
    }
    process.on('message', onGo)
  })
  goAt = Date.now()
  const goPerf = performance.now()
  measureFrom = goPerf + o.warmupMs
  isTimelineOn = true
  let windowIndex = 0
  const windowTimer = setInterval(() => {
    send({ type: 'window', index: windowIndex++, latency: toSparse(windowHistogram.data()) })
    windowHistogram = createHistogram()
  }, o.windowMs)
  const injectionTimers = o.injections.map((inj) =>
    setTimeout(() => {
      const d = devices.find((x) => x.spec.id === inj.deviceId)
      const sim = d?.sim
      if (!d || !sim || sim.kind !== 'elevator' || d.conn === null) return
      publish(d, sim.advance(Date.now() + o.simOffsetMs))
      d.condition = { deviceId: d.spec.id, variant: inj.variant, statusAt: null, eventAt: null }
      sim.inject({
        type: 'trapped',
        levelled: inj.levelled,
        sendTrappedEvent: inj.variant === 'event',
        trappedEventAfterMs: inj.eventAfterMs,
        releaseAfterMs: inj.releaseAfterMs,
        alarmButton: false,
      })
      publish(d, sim.drain())
    }, inj.atMs),
  )

  await new Promise<void>((resolve) => {
    const onStop = (m: SimToChild): void => {
      if (m.type !== 'stop') return
      process.off('message', onStop)
      resolve()
    }
    process.on('message', onStop)
  })
  const durationMs = performance.now() - goPerf
  clearInterval(tickTimer)
  clearInterval(windowTimer)
  // The last, partial window (its acknowledgements may still come: they count in the total only).
  send({ type: 'window', index: windowIndex++, latency: toSparse(windowHistogram.data()) })
  isTimelineOn = false
  if (pingTimer) clearInterval(pingTimer)
  for (const t of injectionTimers) clearTimeout(t)
  // Everything published gets its PUBACK (or fails) before the counts are final.
  const deadline = Date.now() + 60_000
  while (published - acked - publishFailed > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
  }
  isRunning = false
  clearInterval(progressTimer)
  const unacked = published - acked - publishFailed
  const connectedAtStop = connected
  await Promise.all(devices.map((d) => d.conn?.end()))
  return {
    attempted,
    connected: connectedAtStop,
    connectFailed,
    dropped,
    dropReasons,
    connectErrors,
    published,
    acked,
    publishFailed,
    unacked,
    byType,
    latency: histogram.data(),
    durationMs,
    measuredAcked,
    measuredMs: Math.max(0, durationMs - o.warmupMs),
    ...(o.traceEvery ? { traced } : {}),
  }
}

process.once('message', (m: SimToChild) => {
  if (m.type !== 'start') return
  reportToParent(run(m.options), (err) => (err instanceof Error ? (err.stack ?? err.message) : String(err)))
})
