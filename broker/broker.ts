/**
 * The MQTT broker: Aedes behind the registry's credentials and the ACL in policy.ts.
 *
 * Devices and service accounts authenticate with username = client id and a secret; every publish,
 * subscription and delivery goes through policy.ts. When all services share one process, each
 * authorized device uplink is handed to `onDeviceMessage` from inside `authorizePublish`, and the
 * device's PUBACK (written by aedes only after that callback) waits until ingest has the message.
 */
// For their effect: mqtt-packet without its debug() calls, and a tick's PUBACKs to a socket in one
// write (see the modules; the second imports the first).
import '../domain/batched-pubacks.ts'
import { readFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import {
  Aedes,
  type AedesOptions,
  type AedesPublishPacket,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from 'aedes'
import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client'
import { DomainError } from '../domain/errors.ts'
import { createHotCounter, createHotHistogram } from '../domain/hot-metrics.ts'
import type { Logger } from '../domain/logger.ts'
import type { MessageSink } from '../domain/pipeline.ts'
import { openFilesLimit } from '../domain/process-figures.ts'
import { PROTOCOL_PREFIX, UPLINK_TYPES } from '../domain/topics.ts'
import type { Registry, RegistryChange } from '../registry/registry.ts'
import { type BrokerConfig, brokerTls } from './config.ts'
import { createConnackGate } from './connack-first.ts'
import { type ConnectionCap, connectionCap } from './connection-cap.ts'
import { emitInOrder } from './emit-in-order.ts'
import { createFrameGuard } from './frame-guard.ts'
import { forgetConnectPacket, useLeanParserBuffer } from './lean-parser.ts'
import {
  CONNECT_REFUSALS,
  type ConnectRefusal,
  checkConnectShape,
  connackCodeFor,
  decidePublish,
  decideSubscribe,
  type Identity,
  identityName,
  mayForward,
  PUBLISH_REFUSALS,
  type PublishDecision,
  type PublishRefusal,
  SUBSCRIBE_REFUSALS,
} from './policy.ts'

export type BrokerDeps = {
  config: BrokerConfig
  logger: Logger
  registry: Registry
  metrics: MetricsRegistry
  /** Set when ingest runs in the same process: receives every authorized device uplink. */
  onDeviceMessage?: MessageSink
  /**
   * Shared by several brokers behind one load balancer: an mqemitter (mqemitter-redis) that carries
   * messages between them and an aedes persistence (aedes-persistence-redis) holding sessions, so a
   * device may land on any broker. Unset: in memory, one broker.
   */
  cluster?: Pick<AedesOptions, 'mq' | 'persistence' | 'id'>
}

export type Broker = {
  start(): Promise<void>
  stop(): Promise<void>
  aedes: Aedes
  /** The TCP port actually listened on (useful with MQTT_PORT=0). */
  port(): number
  /** The TLS port actually listened on, or null without TLS. */
  tlsPort(): number | null
  /** Publishes as the platform itself (no ACL): alerts and device commands from in-process services. */
  publish(topic: string, payload: Buffer | string, qos?: 0 | 1): Promise<void>
}

/** A service account's filter that can match a device's reading (services may subscribe under `v1/` and `alerts/`). */
const UPLINK_FILTER_PREFIX = `${PROTOCOL_PREFIX}/`
/** Protocol topics have 4 levels; deeper ones only cost router work (qlobber throws past 100). */
const MAX_TOPIC_LEVELS = 8
/** How long stop() waits for aedes to close its clients and its message emitter. */
const AEDES_CLOSE_TIMEOUT_MS = 15_000
/** Device ids are at most 64 characters (DEVICE_ID_PATTERN); aedes' default of 23 is MQTT 3.1's. */
const MAX_CLIENT_ID_LENGTH = 64
/** Sockets turned away at the cap are logged at most this often (a reconnect storm would flood the log). */
const OVER_CAP_WARNING_INTERVAL_MS = 10_000

type KickReason = 'revoked' | 'rotated' | 'out_of_service'

/** A device message handed to the sink, waiting for its PUBACK. */
type Pending = {
  isSettled: boolean
  error: unknown
  topic: string
  callback: (error?: Error | null) => void
  clientId: string
  state: ClientState
  /** performance.now() when it was handed over. */
  started: number
}

/**
 * Messages handed to the sink in a row that got the same promise from it (ingest gives every reading
 * of an InfluxDB batch its batch's): one reaction settles them all.
 */
type SinkGroup = { promise: Promise<void>; entries: Pending[] }

type ClientState = {
  identity: Identity
  /** Credential version the client logged in with; a different one means it was rotated. */
  version: number
  /**
   * This client's messages not yet acknowledged, in arrival order: a message is acknowledged once the
   * sink has it and every earlier one is acknowledged, so PUBACKs keep the device's order.
   */
  pending: Pending[]
  kicked: boolean
}

type ConnectInfo = { clientId: string; will: { topic: string; payload: Buffer } | null }

const toBuffer = (payload: Buffer | string): Buffer =>
  Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8')

function authError(reason: ConnectRefusal): AuthenticateError {
  return Object.assign(new Error(`connection refused: ${reason}`), { returnCode: connackCodeFor(reason) })
}

/** Builds the broker; nothing listens until `start()`. */
export function createBroker(deps: BrokerDeps): Broker {
  const { config, registry, metrics, onDeviceMessage } = deps
  const log = deps.logger.child({ component: 'broker' })

  const connectionsRefused = new Counter({
    name: 'mqtt_connections_refused_total',
    help: 'MQTT connections refused, by reason',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })
  const publishRefused = new Counter({
    name: 'mqtt_publish_refused_total',
    help: 'MQTT publishes (and Last Wills) refused, by reason',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })
  const subscribeRefused = new Counter({
    name: 'mqtt_subscribe_refused_total',
    help: 'MQTT subscriptions refused (granted 0x80), by reason',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })
  const messagesReceived = createHotCounter({
    name: 'mqtt_messages_received_total',
    help: 'Authorized MQTT publishes, by uplink type (devices) or "service"',
    labelName: 'type',
    values: [...UPLINK_TYPES, 'service'],
    registers: [metrics],
  })
  // Observed once per device message: plain numbers (domain/hot-metrics.ts).
  const sinkSeconds = createHotHistogram({
    name: 'mqtt_device_sink_seconds',
    help: 'Time the in-process device message sink took to take a message durably',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [metrics],
  })
  const sinkFailures = new Counter({
    name: 'mqtt_device_sink_failures_total',
    help: 'Device messages the sink failed to take; the publish was refused and the device resends',
    registers: [metrics],
  })
  const clientsKicked = new Counter({
    name: 'mqtt_clients_kicked_total',
    help: 'Connected clients disconnected because their credentials or device stopped being valid',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })
  const socketsOverCap = new Counter({
    name: 'mqtt_sockets_over_cap_total',
    help: 'Sockets closed on arrival because the broker held its connection cap (MQTT_MAX_CONNECTIONS, else the open-files limit less a reserve)',
    registers: [metrics],
  })
  const slowClients = new Counter({
    name: 'mqtt_slow_clients_disconnected_total',
    help: 'Clients disconnected because their socket took no data for MQTT_DRAIN_TIMEOUT_MS (they held up every PUBACK)',
    registers: [metrics],
  })
  const oversizePackets = new Counter({
    name: 'mqtt_oversize_packets_total',
    help: 'Connections dropped for announcing an MQTT packet over MQTT_MAX_PACKET_BYTES',
    registers: [metrics],
  })
  // Every label exists from the start, so a dashboard shows 0 rather than "no data".
  for (const reason of CONNECT_REFUSALS) connectionsRefused.inc({ reason }, 0)
  for (const reason of PUBLISH_REFUSALS) publishRefused.inc({ reason }, 0)
  for (const reason of SUBSCRIBE_REFUSALS) subscribeRefused.inc({ reason }, 0)

  const states = new WeakMap<Client, ClientState>()
  // The sink's latest run of messages that share one promise (handToSink).
  let lastGroup: SinkGroup | null = null
  const connects = new WeakMap<Client, ConnectInfo>()
  /** Clients registered with aedes (past CONNACK): the ones revocation re-checks. */
  const connected = new Set<Client>()
  const sockets = new Set<Socket>()
  let shuttingDown = false
  new Gauge({
    name: 'mqtt_clients_connected',
    help: 'MQTT clients connected and authenticated',
    registers: [metrics],
    collect() {
      this.set(connected.size)
    },
  })

  function refuseConnect(
    client: Client,
    reason: ConnectRefusal,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
    fields: Record<string, unknown> = {},
  ): void {
    connectionsRefused.inc({ reason })
    log.warn({ clientId: connects.get(client)?.clientId, reason, ...fields }, 'connection refused')
    connects.delete(client)
    done(authError(reason), false)
  }

  const connackGate = createConnackGate()
  function preConnect(
    client: Client,
    packet: ConnectPacket,
    callback: (error: Error | null, success: boolean) => void,
  ): void {
    // authenticate() sees neither the raw client id (aedes invents one for an empty id) nor the
    // will, which aedes only authorizes when publishing it: keep both for the checks at CONNECT.
    const will = packet.will ? { topic: packet.will.topic, payload: toBuffer(packet.will.payload) } : null
    connects.set(client, { clientId: packet.clientId, will })
    connackGate.hold(client)
    callback(null, true)
  }

  type AuthResult =
    | { ok: true; state: ClientState }
    | { ok: false; reason: ConnectRefusal; fields?: Record<string, unknown> }

  /** The registry's verdict on a CONNECT that passed the shape checks. */
  async function checkIdentity(username: string, secret: string, info: ConnectInfo): Promise<AuthResult> {
    const versionBefore = registry.credentialVersion(username)
    const result = await registry.checkCredentials(username, secret)
    if (!result.ok) return { ok: false, reason: result.reason }
    // A rotation between the two reads means the secret just checked may be the old one.
    const version = registry.credentialVersion(username)
    if (version === null) return { ok: false, reason: 'revoked' }
    if (version !== versionBefore) return { ok: false, reason: 'bad_secret' }
    let identity: Identity
    if (result.kind === 'device') {
      if (!result.device.inService) return { ok: false, reason: 'out_of_service' }
      identity = { kind: 'device', deviceId: result.device.id, deviceKind: result.device.kind }
    } else {
      identity = { kind: 'service', username: result.username }
    }
    if (info.will !== null) {
      const decision = decidePublish(identity, info.will.topic, info.will.payload.length)
      if (!decision.ok) {
        return {
          ok: false,
          reason: 'will_refused',
          fields: { topic: info.will.topic, willReason: decision.reason },
        }
      }
    }
    return { ok: true, state: { identity, version, pending: [], kicked: false } }
  }

  function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const info = connects.get(client) ?? { clientId: '', will: null }
    const shape = checkConnectShape({
      clientId: info.clientId,
      username,
      hasPassword: password !== undefined && password.length > 0,
    })
    if (shape !== null || username === undefined || password === undefined) {
      refuseConnect(client, shape ?? 'missing_credentials', done, { username })
      return
    }
    checkIdentity(username, password.toString('utf8'), info).then(
      (result) => {
        if (!result.ok) {
          refuseConnect(client, result.reason, done, result.fields)
          return
        }
        connects.delete(client)
        states.set(client, result.state)
        done(null, true)
      },
      (err: unknown) => {
        log.error({ err, clientId: username }, 'credential check failed')
        refuseConnect(client, 'registry_error', done)
      },
    )
  }

  function refusePublish(
    client: Client | null,
    topic: string,
    reason: PublishRefusal,
    callback: (error?: Error | null) => void,
  ): void {
    publishRefused.inc({ reason })
    // one line per connected device at shutdown would bury the log: those are debug
    if (reason === 'broker_stopping') log.debug({ clientId: client?.id, reason, topic }, 'publish refused')
    else log.warn({ clientId: client?.id, reason, topic }, 'publish refused')
    // MQTT 3.1.1 cannot NACK a publish: closing the connection is the refusal [MQTT-3.3.5-2].
    callback(new Error(`publish refused: ${reason}`))
  }

  function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    const state = client === null ? undefined : states.get(client)
    const payload = toBuffer(packet.payload)
    // client is null only for a Last Will a broker publishes for a client of a broker of its cluster
    // that died: who left it cannot be checked here, so it is refused like any unknown sender.
    // A kicked client's in-flight publishes and its Last Will are dropped: it is no longer trusted.
    // While stopping, aedes closes every client and would publish every device's will: the devices
    // did not fail, the broker is going away, so no will and nothing new goes to ingest.
    const decision: PublishDecision =
      client === null || state === undefined
        ? { ok: false, reason: 'no_identity' }
        : shuttingDown
          ? { ok: false, reason: 'broker_stopping' }
          : state.kicked
            ? { ok: false, reason: 'kicked' }
            : decidePublish(state.identity, packet.topic, payload.length)
    if (!decision.ok || client === null || state === undefined) {
      refusePublish(client, packet.topic, decision.ok ? 'no_identity' : decision.reason, callback)
      return
    }
    // Protocol v1 uses no retained messages: a retained uplink would be replayed to ingest on every
    // subscribe, a retained command to a device on every reconnect. The flag is dropped.
    packet.retain = false
    if (decision.uplink === null) {
      messagesReceived.inc('service')
      callback(null)
    } else {
      messagesReceived.inc(decision.uplink)
      if (onDeviceMessage === undefined) callback(null)
      else handToSink(client, state, onDeviceMessage, packet.topic, payload, callback)
    }
  }

  function handToSink(
    client: Client,
    state: ClientState,
    sink: MessageSink,
    topic: string,
    payload: Buffer,
    callback: (error?: Error | null) => void,
  ): void {
    const started = performance.now()
    const clientId = client.id
    // Called synchronously, in the order aedes parsed the packets: aedes handles the packets of one
    // socket read concurrently, so this is what keeps one device's messages in order for ingest.
    let taken: Promise<void>
    try {
      taken = sink({ topic, payload, clientId, receivedAt: Date.now() })
    } catch (err) {
      taken = Promise.reject(err)
    }
    const entry: Pending = { isSettled: false, error: null, topic, callback, clientId, state, started }
    state.pending.push(entry)
    // One reaction per run of messages sharing a promise, not per message: a reaction per message
    // was a promise, two closures and a microtask each, held for as long as the batch's write.
    if (lastGroup !== null && lastGroup.promise === taken) {
      lastGroup.entries.push(entry)
      return
    }
    const next: SinkGroup = { promise: taken, entries: [entry] }
    lastGroup = next
    taken.then(
      () => settleGroup(next, null),
      (err: unknown) => settleGroup(next, err ?? new Error('sink failed')),
    )
  }

  function settleGroup(group: SinkGroup, error: unknown): void {
    // Its reaction has run: a message handed the same (settled) promise again starts a new group.
    if (lastGroup === group) lastGroup = null
    for (const entry of group.entries) settle(entry, error)
  }

  /** The sink is done with `entry`: acknowledge it and the settled messages behind it, in order. */
  function settle(entry: Pending, error: unknown): void {
    const { clientId, state } = entry
    sinkSeconds.observe((performance.now() - entry.started) / 1000)
    entry.isSettled = true
    entry.error = error
    const queue = state.pending
    while (queue.length > 0 && queue[0]?.isSettled) {
      const done = queue.shift()
      if (done === undefined) break
      if (done.error === null) {
        done.callback(null)
        continue
      }
      sinkFailures.inc()
      log.error(
        { err: done.error, clientId, topic: done.topic },
        'device message not taken by ingest; refused so the device resends',
      )
      done.callback(new Error('device message not taken'))
    }
  }

  function authorizeSubscribe(
    client: Client,
    sub: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const state = states.get(client)
    const decision = state === undefined ? null : decideSubscribe(state.identity, sub.topic)
    if (decision?.ok === true) {
      // Before the subscription takes effect: from now on devices' readings go through aedes' publish.
      if (sub.topic.startsWith(UPLINK_FILTER_PREFIX)) uplinksMayHaveSubscribers = true
      callback(null, sub)
      return
    }
    const reason = decision === null ? 'not_allowed' : decision.reason
    subscribeRefused.inc({ reason })
    log.warn({ clientId: client.id, reason, topic: sub.topic }, 'subscription refused')
    // null grants 0x80 (failure) for this filter and keeps the connection [MQTT-3.9.3].
    callback(null, null)
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const state = states.get(client)
    if (state !== undefined && !state.kicked && mayForward(state.identity, packet.topic)) return packet
    log.warn({ clientId: client.id, topic: packet.topic }, 'delivery blocked by forward check')
    return null
  }

  const aedes = new Aedes({
    ...deps.cluster,
    maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
    maxTopicLevels: MAX_TOPIC_LEVELS,
    connectTimeout: config.MQTT_CONNECT_TIMEOUT_MS,
    drainTimeout: config.MQTT_DRAIN_TIMEOUT_MS,
    preConnect,
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
  })
  // aedes drops, per subscriber, a message numbered below one it already delivered: emit in number order.
  const emitStalls = new Counter({
    name: 'mqtt_emit_stalls_total',
    help: 'Messages whose publish did not reach the emitter in time; later ones went out first',
    registers: [metrics],
  })
  const sequencer = emitInOrder(aedes, {
    onStall(counter, waitedMs) {
      emitStalls.inc()
      log.warn({ brokerCounter: counter, waitedMs }, 'a publish stalled before the emitter; passed over')
    },
  })
  new Gauge({
    name: 'mqtt_emit_waiting',
    help: 'Messages numbered by this broker and not yet handed to the emitter (publishing, or held for order)',
    registers: [metrics],
    collect() {
      this.set(sequencer.waiting())
    },
  })

  /**
   * In one process with a sink (the all-in-one platform: ingest and the alerts engine take readings in
   * memory), nobody receives a device's reading over MQTT until a service account subscribes under
   * `v1/` (an integration's subscriber, a test). Until then a reading, once taken and acknowledged,
   * skips aedes' publish: the subscriber lookup, the emitter and the sequencer, which delivered it to
   * nobody (a tenth of the platform's CPU per reading, "Profiles" in docs/benchmarks.md). The first such
   * subscription turns this off for the process's life. Never in a cluster: there the subscribers may be
   * on other brokers and their sessions live in Redis.
   */
  let uplinksMayHaveSubscribers = deps.cluster !== undefined || onDeviceMessage === undefined
  // Wraps the sequencer's publish (below it), so a skipped reading never takes a place in its queue.
  const publishToSubscribers = aedes.publish.bind(aedes)
  Reflect.set(aedes, 'publish', (packet: AedesPublishPacket, client: unknown, done?: unknown): void => {
    if (
      !uplinksMayHaveSubscribers &&
      client !== null &&
      typeof client === 'object' &&
      typeof done === 'function'
    ) {
      const state = states.get(client as Client)
      if (state !== undefined && state.identity.kind === 'device') {
        done(null)
        return
      }
    }
    Reflect.apply(publishToSubscribers, aedes, [packet, client, done])
  })

  function kick(client: Client, state: ClientState, reason: KickReason): void {
    if (state.kicked) return
    state.kicked = true
    connected.delete(client)
    clientsKicked.inc({ reason })
    log.warn({ clientId: client.id, reason }, 'client disconnected: credentials no longer valid')
    client.close()
  }

  /** Kicks `client` if its credential was revoked or rotated, or its device taken out of service. */
  function recheck(client: Client): void {
    const state = states.get(client)
    if (state === undefined || state.kicked) return
    const reason = invalidity(state)
    if (reason !== null) kick(client, state, reason)
  }

  function invalidity(state: ClientState): KickReason | null {
    const name = identityName(state.identity)
    const version = registry.credentialVersion(name)
    if (version === null) return 'revoked'
    if (version !== state.version) return 'rotated'
    if (state.identity.kind === 'device') {
      const device = registry.getDevice(name)
      if (device === null) return 'revoked'
      if (!device.inService) return 'out_of_service'
    }
    return null
  }

  function recheckNamed(name: string): void {
    for (const client of connected) if (client.id === name) recheck(client)
  }

  function onRegistryChange(change: RegistryChange): void {
    try {
      switch (change.type) {
        case 'device_revoked':
        case 'device_rotated':
        case 'device_changed':
          recheckNamed(change.deviceId)
          break
        case 'service_revoked':
          recheckNamed(change.username)
          break
        case 'external': {
          // Only the names whose access changed in the other process: one pass, no query per client.
          if (change.accessChanged.length === 0) break
          const names = new Set(change.accessChanged)
          for (const client of [...connected]) if (names.has(client.id)) recheck(client)
          break
        }
        case 'token_revoked':
          break
      }
    } catch (err) {
      log.error({ err, change }, 'could not re-check connected clients after a registry change')
    }
  }

  aedes.on('client', (client) => {
    connected.add(client)
    // A revocation that landed between the credential check and registration.
    try {
      recheck(client)
    } catch (err) {
      log.error({ err, clientId: client.id }, 'could not re-check a new client')
    }
  })
  aedes.on('connackSent', (_connack, client) => {
    connackGate.release(client)
    forgetConnectPacket(client)
  })
  aedes.on('clientDisconnect', (client) => connected.delete(client))
  // Every write that waited on the socket fails with the same error: one count and one line per client.
  const slowCounted = new WeakSet<Client>()
  aedes.on('clientError', (client, err) => {
    if (err.message === 'drain timeout') {
      if (slowCounted.has(client)) return
      slowCounted.add(client)
      slowClients.inc()
      log.warn(
        { clientId: client.id, drainTimeoutMs: config.MQTT_DRAIN_TIMEOUT_MS },
        'client disconnected: it stopped taking data, and every device acknowledgement waited on it',
      )
      return
    }
    log.debug({ clientId: client.id, err: err.message }, 'client error')
  })
  aedes.on('connectionError', (_client, err) => {
    // CONNACKs aedes sends itself, before authenticate() runs, carry their return code here.
    const code = (err as Error & { errorCode?: unknown }).errorCode
    const reason = code === 1 ? 'unsupported_protocol' : code === 2 ? 'client_id_too_long' : null
    if (reason === null) {
      log.debug({ err: err.message }, 'connection error')
      return
    }
    connectionsRefused.inc({ reason })
    log.warn({ reason }, 'connection refused')
  })
  // aedes emits 'error' for persistence failures; unhandled, an EventEmitter error would throw.
  aedes.addListener('error', (err: unknown) => log.error({ err }, 'aedes error'))

  let cap: ConnectionCap = { max: null, source: 'none', openFilesLimit: null }
  new Gauge({
    name: 'mqtt_connection_cap',
    help: 'Sockets the broker takes at most over all its listeners (-1: no cap)',
    registers: [metrics],
    collect() {
      this.set(cap.max ?? -1)
    },
  })
  /** One warning per interval while sockets are turned away, with how many; not one per socket. */
  let overCapSinceWarning = 0
  let lastOverCapWarning = Number.NEGATIVE_INFINITY

  function countOverCap(): void {
    socketsOverCap.inc()
    overCapSinceWarning++
    const now = performance.now()
    if (now - lastOverCapWarning >= OVER_CAP_WARNING_INTERVAL_MS) {
      log.warn(
        { cap: cap.max, source: cap.source, refused: overCapSinceWarning },
        'connections refused: the broker holds its connection cap',
      )
      lastOverCapWarning = now
      overCapSinceWarning = 0
    }
  }

  let leanParserWarned = false
  // One listener for every socket, not a closure each: a device holds its connection for days.
  function forgetSocket(this: Socket): void {
    sockets.delete(this)
  }

  function attach(socket: Socket): void {
    // Over all listeners; each listener's own maxConnections (below) also bounds TLS handshakes.
    if (cap.max !== null && sockets.size >= cap.max) {
      countOverCap()
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    sockets.add(socket)
    socket.on('close', forgetSocket)
    const client = aedes.handle(socket)
    if (!useLeanParserBuffer(client) && !leanParserWarned) {
      leanParserWarned = true
      log.warn('mqtt-packet parser not as expected: each connection keeps its stream buffer')
    }
    // aedes reads with socket.read() on 'readable'; a 'data' listener added after it does not switch
    // the socket to flowing mode, it sees each chunk aedes reads, before aedes' parser buffers it.
    const guard = createFrameGuard(config.MQTT_MAX_PACKET_BYTES)
    socket.on('data', (chunk: Buffer) => {
      if (guard(chunk) || socket.destroyed) return
      oversizePackets.inc()
      log.warn(
        { remoteAddress: socket.remoteAddress, limit: config.MQTT_MAX_PACKET_BYTES },
        'connection dropped: packet over size limit',
      )
      socket.destroy()
    })
  }

  let server: Server | null = null
  let tlsServer: Server | null = null
  let pollTimer: NodeJS.Timeout | null = null
  let unsubscribe: (() => void) | null = null
  let started = false
  let stopping: Promise<void> | null = null

  async function listen(target: Server, port: number): Promise<void> {
    if (cap.max !== null) {
      // Node closes the socket at accept, before a TLS handshake can hold its descriptor for long.
      target.maxConnections = cap.max
      target.on('drop', countOverCap)
    }
    await new Promise<void>((resolve, reject) => {
      target.once('error', reject)
      target.listen(port, config.MQTT_HOST, () => {
        target.off('error', reject)
        resolve()
      })
    })
    target.on('error', (err) => log.error({ err }, 'listener error'))
  }

  function addressPort(target: Server | null): number | null {
    const address = target?.address()
    return address !== null && typeof address === 'object' ? address.port : null
  }

  async function start(): Promise<void> {
    if (started) return
    started = true
    const tls = brokerTls(config)
    cap = connectionCap(config.MQTT_MAX_CONNECTIONS, openFilesLimit())
    await aedes.listen()
    unsubscribe = registry.onChange(onRegistryChange)
    pollTimer = setInterval(() => {
      try {
        registry.pollExternalChanges()
      } catch (err) {
        log.error({ err }, 'registry poll failed')
      }
    }, config.MQTT_REVOCATION_POLL_MS)
    pollTimer.unref()
    try {
      server = createServer({ noDelay: true }, attach)
      await listen(server, config.MQTT_PORT)
      if (tls !== null) {
        const [cert, key] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)])
        tlsServer = createTlsServer({ cert, key, noDelay: true }, attach)
        tlsServer.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'))
        await listen(tlsServer, tls.port)
      }
    } catch (err) {
      await stop()
      throw err
    }
    log.info(
      {
        host: config.MQTT_HOST,
        port: addressPort(server),
        tlsPort: addressPort(tlsServer),
        maxConnections: cap.max,
        maxConnectionsFrom: cap.source,
        openFilesLimit: cap.openFilesLimit,
      },
      'broker listening',
    )
  }

  async function shutdown(): Promise<void> {
    shuttingDown = true
    if (pollTimer !== null) clearInterval(pollTimer)
    unsubscribe?.()
    const listeners = [server, tlsServer].filter((s): s is Server => s !== null)
    const closed = listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))
    await new Promise<void>((resolve) => {
      // aedes closes its clients, then its emitter; a shared emitter whose Redis went away never
      // closes (its QUIT waits for a connection): past this, the broker stops without it.
      const timer = setTimeout(() => {
        log.warn({ timeoutMs: AEDES_CLOSE_TIMEOUT_MS }, 'aedes did not close in time; stopping anyway')
        resolve()
      }, AEDES_CLOSE_TIMEOUT_MS)
      aedes.close(() => {
        clearTimeout(timer)
        resolve()
      })
    })
    // Sockets that never sent CONNECT are not aedes clients; they would hold the listeners open.
    for (const socket of sockets) socket.destroy()
    await Promise.all(closed)
    sequencer.close()
    connected.clear()
    if (started) log.info('broker stopped')
  }

  function stop(): Promise<void> {
    stopping ??= shutdown()
    return stopping
  }

  return {
    start,
    stop,
    aedes,
    port(): number {
      const port = addressPort(server)
      if (port === null) throw new DomainError('BROKER_NOT_RUNNING', 'the broker is not listening')
      return port
    },
    tlsPort(): number | null {
      return addressPort(tlsServer)
    },
    publish(topic: string, payload: Buffer | string, qos: 0 | 1 = 0): Promise<void> {
      if (!started || stopping !== null) {
        return Promise.reject(new DomainError('BROKER_NOT_RUNNING', 'the broker is not running'))
      }
      return new Promise((resolve, reject) => {
        aedes.publish(
          { cmd: 'publish', topic, payload: toBuffer(payload), qos, retain: false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        )
      })
    },
  }
}
