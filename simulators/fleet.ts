/**
 * Runs simulated devices against an MQTT broker: one mqtt.js client per device (MQTT 3.1.1, client id
 * = username = device id, its own secret), QoS 1, connections ramped so thousands do not stampede,
 * reconnect with backoff. mqtt.js keeps every unacknowledged QoS 1 publish in its outgoing store and
 * sends it again after a reconnect (MqttClient._onConnect replays the store whatever `clean` is), so
 * a broker restart loses nothing a device published. Counters per device and for the fleet say what
 * was sent and what the broker acknowledged (PUBACK), for comparison with what landed in InfluxDB.
 */
import { connect as netConnect } from 'node:net'
import mqtt, { type IClientOptions, MqttClient, Store } from 'mqtt'
import { DomainError } from '../domain/errors.ts'
import type { Logger } from '../domain/logger.ts'
import { CommandSchema } from '../domain/protocol.ts'
import {
  commandTopic,
  type DeviceKind,
  UPLINK_TYPES,
  type UplinkType,
  uplinkTopic,
} from '../domain/topics.ts'
import {
  createElevatorSim,
  type ElevatorInjection,
  type ElevatorSim,
  type ElevatorSimOptions,
} from './elevator.ts'
import { createRng, type Rng } from './random.ts'
import { createScaleSim, type ScaleInjection, type ScaleSim, type ScaleSimOptions } from './scale.ts'
import type { SimMessage } from './sim-core.ts'
import type { SimulatedDeviceSpec } from './spec.ts'

export type { SimulatedDeviceSpec } from './spec.ts'

export type FleetConfig = {
  /** Broker URL: mqtt://host:port (mqtts:// and ws:// work too, without sourceAddresses). */
  url: string
  /** Seed of the whole fleet: each device draws from its own fork, keyed by its id. */
  seed: number | string
  /** New connections per second during the start-up ramp. */
  rampPerSecond: number
  /**
   * At most this many devices waiting for their first CONNACK: the ramp slows to what the broker
   * verifies (a registry that stores secrets as scrypt hashes pays ~9 ms a first login) instead of
   * piling up connect timeouts.
   */
  maxConnecting: number
  /** How often the simulators are advanced and their messages published. */
  tickMs: number
  keepaliveS: number
  connectTimeoutMs: number
  /** First reconnect delay; doubles per failed attempt up to reconnectMaxMs, with +-20% jitter. */
  reconnectBaseMs: number
  reconnectMaxMs: number
  /** How long stop() waits for PUBACKs of in-flight messages before closing sockets. */
  stopTimeoutMs: number
  /**
   * Local addresses to spread connections over (127.0.0.x), for fleets too large for the ephemeral
   * ports of one source address. Empty: the OS picks. mqtt:// URLs only.
   */
  sourceAddresses: string[]
  /** Subscribe each device to its commands topic (report_status, set_status_period). */
  subscribeCommands: boolean
  progressIntervalMs: number
  elevator: Partial<ElevatorSimOptions>
  scale: Partial<ScaleSimOptions>
}

export const DEFAULT_FLEET_CONFIG: FleetConfig = {
  url: 'mqtt://127.0.0.1:1883',
  seed: 1,
  // A fleet starting at 100 devices/s spreads its first logins as a district's controllers would.
  rampPerSecond: 100,
  maxConnecting: 64,
  tickMs: 250,
  keepaliveS: 60,
  connectTimeoutMs: 30_000,
  reconnectBaseMs: 1000,
  reconnectMaxMs: 30_000,
  stopTimeoutMs: 5000,
  sourceAddresses: [],
  subscribeCommands: true,
  progressIntervalMs: 1000,
  elevator: {},
  scale: {},
}

type TypeCounters = { sent: number; acknowledged: number }

export type DeviceStats = {
  id: string
  kind: DeviceKind
  started: boolean
  connected: boolean
  everConnected: boolean
  /** Messages handed to mqtt.js. */
  sent: number
  /** Messages the broker acknowledged (PUBACK). */
  acknowledged: number
  /** Publishes that failed (mqtt.js reported an error). */
  publishFailed: number
  /** CONNACKs refusing the connection (bad credentials, not authorized...). */
  connectRefused: number
  /** Connection attempts that failed below MQTT (socket errors, timeouts). */
  connectErrors: number
  /** Successful connections after the first. */
  reconnects: number
  byType: Record<UplinkType, TypeCounters>
}

type KindStats = {
  devices: number
  connected: number
  everConnected: number
  sent: number
  acknowledged: number
  refused: number
}

export type FleetStats = {
  devices: number
  started: number
  connected: number
  everConnected: number
  sent: number
  acknowledged: number
  /** Connections refused plus publishes failed. */
  refused: number
  connectRefused: number
  publishFailed: number
  connectErrors: number
  reconnects: number
  /** Sent, neither acknowledged nor failed (yet). */
  pending: number
  byKind: Record<DeviceKind, KindStats>
  byType: Record<UplinkType, TypeCounters>
  /** Events sent, by code (elevator and scale codes). */
  eventsByCode: Record<string, number>
  elapsedMs: number
}

export type FleetInjection = ElevatorInjection | ScaleInjection

export type FleetDevice = {
  id: string
  kind: DeviceKind
  sim: ElevatorSim | ScaleSim
  /** Applies a fault now and publishes what it emits at once. */
  inject(injection: FleetInjection): void
  stats(): DeviceStats
}

export type Fleet = {
  /** Starts the ramp and the simulation loop; resolves at once (see waitConnected). */
  start(): Promise<void>
  /** Stops simulating, waits (up to stopTimeoutMs) for PUBACKs, closes every connection. Safe twice. */
  stop(): Promise<void>
  stats(): FleetStats
  /** A running device, to inject faults into; undefined for an unknown or not yet started id. */
  device(id: string): FleetDevice | undefined
  /** Acknowledged message count of every device, by id. */
  acknowledgedByDevice(): Map<string, number>
  /** Resolves true once every device has connected at least once, false after timeoutMs. */
  waitConnected(timeoutMs: number): Promise<boolean>
  on(event: 'progress', listener: (stats: FleetStats) => void): () => void
}

export type FleetDeps = {
  config: Partial<FleetConfig> & Pick<FleetConfig, 'url'>
  logger: Logger
  devices: SimulatedDeviceSpec[]
  /** Clock of the simulators (wall clock by default). */
  now?: () => number
}

const ELEVATOR_INJECTIONS = new Set<string>(['fault', 'overspeed', 'trapped', 'maintenance', 'mode', 'alarm'])
const SCALE_INJECTIONS = new Set<string>(['tamper', 'cheat', 'zero_drift', 'self_check_failed', 'reseal'])

function isElevatorInjection(i: FleetInjection): i is ElevatorInjection {
  return i.type === 'offline' || ELEVATOR_INJECTIONS.has(i.type)
}
function isScaleInjection(i: FleetInjection): i is ScaleInjection {
  return i.type === 'offline' || SCALE_INJECTIONS.has(i.type)
}

function emptyByType(): Record<UplinkType, TypeCounters> {
  return {
    elevator_status: { sent: 0, acknowledged: 0 },
    elevator_event: { sent: 0, acknowledged: 0 },
    scale_status: { sent: 0, acknowledged: 0 },
    scale_weighing: { sent: 0, acknowledged: 0 },
    scale_event: { sent: 0, acknowledged: 0 },
  }
}

type Runtime = {
  spec: SimulatedDeviceSpec
  index: number
  rng: Rng
  sim: ElevatorSim | ScaleSim | null
  client: MqttClient | null
  stores: { incomingStore: Store; outgoingStore: Store }
  stats: DeviceStats
  failedAttempts: number
  offlineCut: boolean
  /** Its first connection attempt ended (connected or not): it no longer holds a ramp slot. */
  firstAttemptSettled: boolean
}

/** A connection refused by CONNACK carries its MQTT return code (1-5) as a numeric `code`. */
function connackCode(err: unknown): number | null {
  if (typeof err !== 'object' || err === null || !('code' in err)) return null
  const code = err.code
  return typeof code === 'number' && code > 0 && code < 256 ? code : null
}

/**
 * Creates a fleet of simulated devices. No I/O until start().
 */
export function createFleet(deps: FleetDeps): Fleet {
  const config: FleetConfig = { ...DEFAULT_FLEET_CONFIG, ...deps.config }
  const log = deps.logger.child({ component: 'simulator-fleet' })
  const now = deps.now ?? Date.now
  const root = createRng(config.seed)
  const brokerUrl = new URL(config.url)
  if (config.sourceAddresses.length > 0 && brokerUrl.protocol !== 'mqtt:' && brokerUrl.protocol !== 'tcp:') {
    throw new DomainError('CONFIG_INVALID', 'sourceAddresses work with mqtt:// URLs only')
  }
  const seen = new Set<string>()
  const runtimes: Runtime[] = deps.devices.map((spec, index) => {
    if (seen.has(spec.id)) throw new DomainError('CONFIG_INVALID', `device ${spec.id} listed twice`)
    seen.add(spec.id)
    return {
      spec,
      index,
      rng: root.fork(spec.id),
      sim: null,
      client: null,
      stores: { incomingStore: new Store(), outgoingStore: new Store() },
      stats: {
        id: spec.id,
        kind: spec.kind,
        started: false,
        connected: false,
        everConnected: false,
        sent: 0,
        acknowledged: 0,
        publishFailed: 0,
        connectRefused: 0,
        connectErrors: 0,
        reconnects: 0,
        byType: emptyByType(),
      },
      failedAttempts: 0,
      offlineCut: false,
      firstAttemptSettled: false,
    }
  })
  const byId = new Map(runtimes.map((rt) => [rt.spec.id, rt]))
  const eventsByCode: Record<string, number> = {}
  const progressListeners = new Set<(stats: FleetStats) => void>()
  const connectWaiters = new Set<() => void>()
  let everConnectedCount = 0
  let connecting = 0
  let startedAt = 0
  let running = false
  let stopping: Promise<void> | null = null
  let rampTimer: NodeJS.Timeout | null = null
  let loopTimer: NodeJS.Timeout | null = null
  let progressTimer: NodeJS.Timeout | null = null

  function createSim(rt: Runtime, startAt: number): ElevatorSim | ScaleSim {
    const { spec } = rt
    if (spec.kind === 'elevator') {
      return createElevatorSim({
        spec: {
          id: spec.id,
          ratedSpeedMps: spec.ratedSpeedMps ?? 1.75,
          floors: spec.floors ?? 18,
          statusPeriodS: spec.statusPeriodS,
        },
        rng: rt.rng,
        startAt,
        options: config.elevator,
      })
    }
    return createScaleSim({
      spec: { id: spec.id, maxKg: spec.maxKg ?? 15, eG: spec.eG ?? 5, statusPeriodS: spec.statusPeriodS },
      rng: rt.rng,
      startAt,
      options: config.scale,
    })
  }

  function backoffMs(rt: Runtime): number {
    const base = Math.min(
      config.reconnectMaxMs,
      config.reconnectBaseMs * 2 ** Math.min(rt.failedAttempts, 16),
    )
    return Math.round(base * rt.rng.uniform(0.8, 1.2))
  }

  function clientOptions(rt: Runtime): IClientOptions {
    return {
      clientId: rt.spec.id,
      username: rt.spec.id,
      password: rt.spec.secret,
      protocolVersion: 4,
      // No broker session needed: mqtt.js resends its own unacknowledged QoS 1 messages anyway.
      clean: true,
      keepalive: config.keepaliveS,
      connectTimeout: config.connectTimeoutMs,
      reconnectPeriod: backoffMs(rt),
      // A refused CONNACK (the broker busy, or credentials not there yet) is retried with backoff.
      reconnectOnConnackError: true,
      resubscribe: true,
      ...rt.stores,
    }
  }

  function openClient(rt: Runtime): MqttClient {
    const options = clientOptions(rt)
    if (config.sourceAddresses.length === 0) return mqtt.connect(config.url, options)
    const localAddress = config.sourceAddresses[rt.index % config.sourceAddresses.length]
    const port = Number(brokerUrl.port || 1883)
    const host = brokerUrl.hostname
    return new MqttClient(() => netConnect({ host, port, localAddress }), options)
  }

  function publish(rt: Runtime, messages: SimMessage[]): void {
    const client = rt.client
    if (!client) return
    for (const m of messages) {
      const counters = rt.stats.byType[m.type]
      rt.stats.sent++
      counters.sent++
      if (m.type === 'elevator_event' || m.type === 'scale_event') {
        eventsByCode[m.payload.code] = (eventsByCode[m.payload.code] ?? 0) + 1
      }
      client.publish(uplinkTopic(m.type, rt.spec.id), JSON.stringify(m.payload), { qos: 1 }, (err) => {
        if (err) {
          rt.stats.publishFailed++
          log.debug({ deviceId: rt.spec.id, err: err.message }, 'publish failed')
          return
        }
        rt.stats.acknowledged++
        counters.acknowledged++
      })
    }
  }

  function handleCommand(rt: Runtime, payload: Buffer): void {
    try {
      const parsed = CommandSchema.safeParse(JSON.parse(payload.toString('utf8')))
      if (!parsed.success || !rt.sim) {
        log.debug({ deviceId: rt.spec.id }, 'command ignored: not a protocol v1 command')
        return
      }
      const cmd = parsed.data
      if (cmd.command === 'report_status') rt.sim.requestStatus()
      else if (cmd.command === 'set_status_period') {
        const seconds = Number(cmd.args?.seconds ?? cmd.args?.statusPeriodS)
        if (Number.isInteger(seconds) && seconds >= 1 && seconds <= 86_400) rt.sim.setStatusPeriodS(seconds)
      }
      publish(rt, rt.sim.drain())
    } catch (err) {
      log.debug({ deviceId: rt.spec.id, err }, 'command ignored: not JSON')
    }
  }

  function settleFirstAttempt(rt: Runtime): void {
    if (rt.firstAttemptSettled) return
    rt.firstAttemptSettled = true
    connecting--
  }

  function startDevice(rt: Runtime): void {
    rt.sim = createSim(rt, now())
    rt.stats.started = true
    connecting++
    const client = openClient(rt)
    rt.client = client
    client.on('connect', () => {
      settleFirstAttempt(rt)
      const { stats } = rt
      if (stats.everConnected) stats.reconnects++
      else {
        stats.everConnected = true
        everConnectedCount++
        if (everConnectedCount === runtimes.length) for (const wake of connectWaiters) wake()
        if (config.subscribeCommands) {
          client.subscribe(commandTopic(rt.spec.kind, rt.spec.id), { qos: 1 }, (err) => {
            if (err) log.debug({ deviceId: rt.spec.id, err: err.message }, 'commands subscription failed')
          })
        }
      }
      stats.connected = true
      rt.failedAttempts = 0
      client.options.reconnectPeriod = backoffMs(rt)
    })
    client.on('close', () => {
      settleFirstAttempt(rt)
      rt.stats.connected = false
    })
    client.on('reconnect', () => {
      if (rt.offlineCut) return
      rt.failedAttempts++
      // Read by mqtt.js when it sets up the next retry, should this attempt fail too.
      client.options.reconnectPeriod = backoffMs(rt)
    })
    client.on('error', (err) => {
      const code = connackCode(err)
      if (code !== null) {
        rt.stats.connectRefused++
        // Once per device and then at debug: a wrong secret must not flood the log.
        const level = rt.stats.connectRefused === 1 ? 'warn' : 'debug'
        log[level]({ deviceId: rt.spec.id, returnCode: code }, 'connection refused')
      } else {
        rt.stats.connectErrors++
        log.debug({ deviceId: rt.spec.id, err: err.message }, 'connection error')
      }
    })
    client.on('message', (_topic, payload) => handleCommand(rt, payload))
    // The initial status (and a scale's power_on) go out with the connection.
    publish(rt, rt.sim.drain())
  }

  /** The device went offline: cut its connection (unacknowledged messages stay in its store). */
  function cutConnection(rt: Runtime): void {
    const client = rt.client
    if (!client) return
    rt.offlineCut = true
    // Hold mqtt.js' own retry back until the device comes back (it reconnects then, explicitly).
    client.options.reconnectPeriod = 24 * 3_600_000
    client.stream?.destroy()
  }

  function restoreConnection(rt: Runtime): void {
    const client = rt.client
    if (!client) return
    rt.offlineCut = false
    rt.failedAttempts = 0
    client.options.reconnectPeriod = backoffMs(rt)
    // Same stores: whatever was in flight at the cut is sent again on this connection.
    client.reconnect(rt.stores)
  }

  function tick(): void {
    const t = now()
    for (const rt of runtimes) {
      const sim = rt.sim
      if (!sim) continue
      try {
        publish(rt, sim.advance(t))
        const offline = sim.isOffline()
        if (offline && !rt.offlineCut) cutConnection(rt)
        else if (!offline && rt.offlineCut) restoreConnection(rt)
      } catch (err) {
        // One device's failure must not stop the fleet.
        log.error({ deviceId: rt.spec.id, err }, 'simulator step failed')
      }
    }
  }

  function stats(): FleetStats {
    const byKind: Record<DeviceKind, KindStats> = {
      elevator: { devices: 0, connected: 0, everConnected: 0, sent: 0, acknowledged: 0, refused: 0 },
      scale: { devices: 0, connected: 0, everConnected: 0, sent: 0, acknowledged: 0, refused: 0 },
    }
    const byType = emptyByType()
    const total = {
      started: 0,
      connected: 0,
      sent: 0,
      acknowledged: 0,
      connectRefused: 0,
      publishFailed: 0,
      connectErrors: 0,
      reconnects: 0,
    }
    for (const { stats: s } of runtimes) {
      const k = byKind[s.kind]
      k.devices++
      if (s.connected) k.connected++
      if (s.everConnected) k.everConnected++
      k.sent += s.sent
      k.acknowledged += s.acknowledged
      k.refused += s.connectRefused + s.publishFailed
      if (s.started) total.started++
      if (s.connected) total.connected++
      total.sent += s.sent
      total.acknowledged += s.acknowledged
      total.connectRefused += s.connectRefused
      total.publishFailed += s.publishFailed
      total.connectErrors += s.connectErrors
      total.reconnects += s.reconnects
      for (const type of UPLINK_TYPES) {
        byType[type].sent += s.byType[type].sent
        byType[type].acknowledged += s.byType[type].acknowledged
      }
    }
    return {
      devices: runtimes.length,
      ...total,
      everConnected: everConnectedCount,
      refused: total.connectRefused + total.publishFailed,
      pending: total.sent - total.acknowledged - total.publishFailed,
      byKind,
      byType,
      eventsByCode: { ...eventsByCode },
      elapsedMs: startedAt === 0 ? 0 : Date.now() - startedAt,
    }
  }

  function deviceStats(rt: Runtime): DeviceStats {
    const byType = emptyByType()
    for (const type of UPLINK_TYPES) byType[type] = { ...rt.stats.byType[type] }
    return { ...rt.stats, byType }
  }

  function endClient(client: MqttClient): Promise<void> {
    return new Promise((resolve) => {
      if (!client.connected) {
        // Nothing can be acknowledged without a connection: do not wait for it.
        client.end(true, () => resolve())
        return
      }
      const timer = setTimeout(() => {
        // PUBACKs did not come in time (or the broker is gone): close the socket regardless.
        client.stream?.destroy()
        resolve()
      }, config.stopTimeoutMs)
      client.end(false, () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  return {
    async start() {
      if (running || stopping) return
      running = true
      startedAt = Date.now()
      log.info(
        { devices: runtimes.length, url: config.url, rampPerSecond: config.rampPerSecond },
        'fleet starting',
      )
      let nextIndex = 0
      let credit = 0
      const rampStepMs = 100
      const rampStep = () => {
        credit += (config.rampPerSecond * rampStepMs) / 1000
        while (credit >= 1 && nextIndex < runtimes.length && connecting < config.maxConnecting) {
          const rt = runtimes[nextIndex++]
          credit--
          if (rt) startDevice(rt)
        }
        // Credit does not pile up while the broker is slow: no burst when it catches up.
        credit = Math.min(credit, 1)
        if (nextIndex >= runtimes.length && rampTimer) {
          clearInterval(rampTimer)
          rampTimer = null
        }
      }
      rampTimer = setInterval(rampStep, rampStepMs)
      rampStep()
      loopTimer = setInterval(tick, config.tickMs)
      progressTimer = setInterval(() => {
        const s = stats()
        for (const listener of progressListeners) listener(s)
      }, config.progressIntervalMs)
    },

    stop() {
      if (stopping) return stopping
      stopping = (async () => {
        for (const timer of [rampTimer, loopTimer, progressTimer]) if (timer) clearInterval(timer)
        rampTimer = null
        loopTimer = null
        progressTimer = null
        for (const wake of connectWaiters) wake()
        const clients = runtimes.flatMap((rt) => (rt.client ? [rt.client] : []))
        await Promise.all(clients.map(endClient))
        running = false
        log.info({ ...summaryFields(stats()) }, 'fleet stopped')
      })()
      return stopping
    },

    stats,

    device(id) {
      const rt = byId.get(id)
      const sim = rt?.sim
      if (!rt || !sim) return undefined
      return {
        id,
        kind: rt.spec.kind,
        sim,
        inject(injection) {
          publish(rt, sim.advance(now()))
          if (sim.kind === 'elevator' && isElevatorInjection(injection)) sim.inject(injection)
          else if (sim.kind === 'scale' && isScaleInjection(injection)) sim.inject(injection)
          else throw new DomainError('WRONG_KIND', `${injection.type} does not apply to ${sim.kind} ${id}`)
          publish(rt, sim.drain())
          if (sim.isOffline() && !rt.offlineCut) cutConnection(rt)
        },
        stats: () => deviceStats(rt),
      }
    },

    acknowledgedByDevice() {
      return new Map(runtimes.map((rt) => [rt.spec.id, rt.stats.acknowledged]))
    },

    waitConnected(timeoutMs) {
      if (everConnectedCount === runtimes.length) return Promise.resolve(true)
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer)
          connectWaiters.delete(done)
          resolve(everConnectedCount === runtimes.length)
        }
        const timer = setTimeout(done, timeoutMs)
        connectWaiters.add(done)
      })
    },

    on(_event, listener) {
      progressListeners.add(listener)
      return () => {
        progressListeners.delete(listener)
      }
    },
  }
}

/** The figures of a summary line, for logs. */
export function summaryFields(s: FleetStats) {
  return {
    devices: s.devices,
    everConnected: s.everConnected,
    connected: s.connected,
    sent: s.sent,
    acknowledged: s.acknowledged,
    refused: s.refused,
    pending: s.pending,
    reconnects: s.reconnects,
  }
}
