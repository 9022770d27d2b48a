/**
 * A small MQTT 3.1.1 subscriber for the platform's own services (ingest and alerts when they run as
 * processes of their own): persistent session, QoS 1, and an `ack()` per message that sends the PUBACK
 * later, once the service has the message durably.
 *
 * Why not mqtt.js: its client handles incoming packets strictly one at a time — `handleMessage(packet,
 * cb)` must call back before the next packet is even parsed, and the PUBACK goes out on that callback
 * (node_modules/mqtt/build/lib/client.js `work()`, handlers/publish.js). Holding the PUBACK until a batch
 * is in InfluxDB would then mean one message per write. Here every PUBLISH is handed over at once and
 * the acknowledgements follow when the service says so: thousands of messages share one write.
 *
 * Built on mqtt-packet, the parser and generator that mqtt.js and aedes use. PUBACKs are sent in the
 * order the PUBLISHes arrived [MQTT-4.6.0-2]; an `ack()` of a message from a connection that has since
 * dropped is ignored (the broker delivers that message again on the persistent session).
 */
// For its effect: mqtt-packet without its debug() calls (see the module).
import './quiet-mqtt-packet.ts'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import mqttPacket, { type Packet } from 'mqtt-packet'
import type { Logger } from './logger.ts'

export type SubscribedMessage = {
  topic: string
  payload: Buffer
  qos: 0 | 1
  /** Set by the broker on a redelivery. */
  isDuplicate: boolean
  /** When this process read it, ms since epoch. */
  receivedAt: number
}

export type MqttSubscriberOptions = {
  /** mqtt://host:port or mqtts://host:port */
  url: string
  /** Fixed, so that the broker keeps the session across restarts. */
  clientId: string
  username?: string
  password?: string
  /** false (default): the broker keeps subscriptions and undelivered messages while we are away. */
  isCleanSession?: boolean
  keepaliveS?: number
  subscriptions: ReadonlyArray<{ topic: string; qos: 0 | 1 }>
  /**
   * Filters to drop from a persistent session at every connect: an earlier configuration's
   * subscriptions outlive it in the broker, which would go on queuing their messages for us.
   */
  unsubscriptions?: readonly string[]
  /** Every message; call `ack()` once it is safe for the broker to forget it. */
  onMessage: (message: SubscribedMessage, ack: () => void) => void
  logger: Logger
  /** Delivered and not yet acknowledged messages at most; beyond it the socket is not read. */
  maxUnacked?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
  connectTimeoutMs?: number
  /** How long stop() waits for outstanding acknowledgements. */
  drainTimeoutMs?: number
  now?: () => number
}

export type MqttSubscriber = {
  /** Connects and subscribes; resolves once the first session is up (retrying until it is). */
  start(): Promise<void>
  /** Stops reading new messages; acknowledgements still go out. */
  pause(): void
  /** Waits for outstanding acknowledgements (bounded), sends DISCONNECT, closes. Safe twice. */
  stop(): Promise<void>
  /**
   * Drops the connection and connects again: the broker then delivers every unacknowledged message
   * anew. For a message the service could not take (acknowledgements go in order, so one that is
   * never acknowledged holds back all later ones).
   */
  reconnect(): void
  isConnected(): boolean
  unacked(): number
}

type Inflight = { messageId: number; isAcked: boolean }

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
}

export function createMqttSubscriber(options: MqttSubscriberOptions): MqttSubscriber {
  const log = options.logger.child({ component: 'mqtt-subscriber', clientId: options.clientId })
  const now = options.now ?? Date.now
  const keepaliveS = options.keepaliveS ?? 30
  const maxUnacked = options.maxUnacked ?? 10_000
  const reconnectMinMs = options.reconnectMinMs ?? 500
  const reconnectMaxMs = options.reconnectMaxMs ?? 10_000
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000
  const target = new URL(options.url)
  const isTls = target.protocol === 'mqtts:'
  const port = Number(target.port || (isTls ? 8883 : 1883))

  let socket: Socket | null = null
  // Bumped per connection: an ack() from an older connection must not write to this one.
  let epoch = 0
  let isUp = false
  let isStopping = false
  let isPausedByCaller = false
  let isPausedForBackpressure = false
  let queue: Inflight[] = []
  let queueHead = 0
  let unacked = 0
  let pendingAcks: Buffer[] = []
  let isAckFlushScheduled = false
  let backoffMs = reconnectMinMs
  let reconnectTimer: NodeJS.Timeout | null = null
  let pingTimer: NodeJS.Timeout | null = null
  let lastInboundAt = 0
  const drainWaiters: Array<() => void> = []
  let onFirstUp: (() => void) | null = null

  function write(packet: Packet): void {
    socket?.write(mqttPacket.generate(packet))
  }

  function flushAcks(): void {
    isAckFlushScheduled = false
    if (pendingAcks.length === 0 || socket === null) return
    socket.write(pendingAcks.length === 1 && pendingAcks[0] ? pendingAcks[0] : Buffer.concat(pendingAcks))
    pendingAcks = []
  }

  function releaseAcks(): void {
    while (queueHead < queue.length) {
      const head = queue[queueHead]
      if (head === undefined || !head.isAcked) break
      queueHead++
      unacked--
      pendingAcks.push(mqttPacket.generate({ cmd: 'puback', messageId: head.messageId }))
    }
    if (queueHead > 4096 && queueHead * 2 > queue.length) {
      queue = queue.slice(queueHead)
      queueHead = 0
    }
    if (pendingAcks.length > 0 && !isAckFlushScheduled) {
      isAckFlushScheduled = true
      setImmediate(flushAcks)
    }
    if (isPausedForBackpressure && unacked <= maxUnacked / 2) {
      isPausedForBackpressure = false
      if (!isPausedByCaller) socket?.resume()
    }
    if (unacked === 0) for (const wake of drainWaiters.splice(0)) wake()
  }

  function onPublish(packet: mqttPacket.IPublishPacket, connectionEpoch: number): void {
    const payload =
      typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload)
    const message: SubscribedMessage = {
      topic: packet.topic,
      payload,
      qos: packet.qos === 0 ? 0 : 1,
      isDuplicate: packet.dup === true,
      receivedAt: now(),
    }
    if (packet.qos === 0 || packet.messageId === undefined) {
      options.onMessage(message, () => undefined)
      return
    }
    if (packet.qos === 2) {
      // Subscriptions here are QoS 1 at most, so the broker never sends QoS 2 [MQTT-3.8.4-6].
      log.warn({ topic: packet.topic }, 'QoS 2 message on a QoS 1 subscription: handled as QoS 1')
    }
    const entry: Inflight = { messageId: packet.messageId, isAcked: false }
    queue.push(entry)
    unacked++
    if (unacked >= maxUnacked && !isPausedForBackpressure) {
      isPausedForBackpressure = true
      socket?.pause()
    }
    let isDone = false
    options.onMessage(message, () => {
      if (isDone || connectionEpoch !== epoch) return
      isDone = true
      entry.isAcked = true
      releaseAcks()
    })
  }

  function clearConnection(): void {
    if (pingTimer !== null) clearInterval(pingTimer)
    pingTimer = null
    isUp = false
    epoch++
    // What was delivered and not acknowledged comes again on the next session.
    queue = []
    queueHead = 0
    unacked = 0
    pendingAcks = []
    isPausedForBackpressure = false
    for (const wake of drainWaiters.splice(0)) wake()
  }

  function scheduleReconnect(): void {
    if (isStopping || reconnectTimer !== null) return
    const delay = backoffMs
    backoffMs = Math.min(backoffMs * 2, reconnectMaxMs)
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null
      connect()
    }, delay)
  }

  function connect(): void {
    if (isStopping) return
    const connectionEpoch = ++epoch
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    const sock = isTls
      ? tlsConnect({ host: target.hostname, port, servername: target.hostname })
      : netConnect({ host: target.hostname, port })
    socket = sock
    sock.setNoDelay(true)
    const connectTimer = setTimeout(() => {
      log.warn({ url: options.url }, 'MQTT connect timed out')
      sock.destroy()
    }, connectTimeoutMs)

    let isSessionPresent = false
    parser.on('packet', (packet: Packet) => {
      lastInboundAt = now()
      switch (packet.cmd) {
        case 'connack': {
          clearTimeout(connectTimer)
          if (packet.returnCode !== 0) {
            const code = packet.returnCode ?? -1
            log.error(
              { returnCode: code, reason: CONNACK_REASONS[code] ?? 'unknown', username: options.username },
              'MQTT broker refused the connection (username, password or client id)',
            )
            sock.destroy()
            return
          }
          isSessionPresent = packet.sessionPresent
          if (options.unsubscriptions !== undefined && options.unsubscriptions.length > 0) {
            write({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [...options.unsubscriptions] })
          }
          write({
            cmd: 'subscribe',
            messageId: 1,
            subscriptions: options.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
          })
          return
        }
        case 'suback': {
          const refused = options.subscriptions.filter((_, i) => packet.granted[i] === 0x80)
          if (refused.length > 0) {
            log.error({ topics: refused.map((s) => s.topic) }, 'MQTT broker refused subscriptions')
          }
          isUp = true
          backoffMs = reconnectMinMs
          log.info({ url: options.url, isSessionPresent }, 'MQTT subscriber connected')
          onFirstUp?.()
          onFirstUp = null
          return
        }
        case 'publish':
          onPublish(packet, connectionEpoch)
          return
        case 'pingresp':
          return
        default:
          return
      }
    })
    parser.on('error', (err) => {
      log.error({ err }, 'MQTT protocol error: reconnecting')
      sock.destroy()
    })
    sock.on('data', (chunk: Buffer) => parser.parse(chunk))
    sock.on('error', (err) => log.warn({ err: err.message, url: options.url }, 'MQTT connection error'))
    sock.on('close', () => {
      clearTimeout(connectTimer)
      if (socket === sock) {
        socket = null
        if (isUp) log.warn({ url: options.url }, 'MQTT connection lost: reconnecting')
        clearConnection()
        scheduleReconnect()
      }
    })
    sock.on('connect', () => {
      lastInboundAt = now()
      write({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: options.isCleanSession ?? false,
        clientId: options.clientId,
        keepalive: keepaliveS,
        username: options.username,
        password: options.password === undefined ? undefined : Buffer.from(options.password, 'utf8'),
      })
      if (isPausedByCaller) sock.pause()
      pingTimer = setInterval(
        () => {
          if (sock.isPaused()) {
            // Not reading: a PINGRESP could not be seen, so silence proves nothing now.
            lastInboundAt = now()
          } else if (now() - lastInboundAt > keepaliveS * 1500) {
            log.warn({ keepaliveS }, 'MQTT broker silent past keepalive: reconnecting')
            sock.destroy()
            return
          }
          write({ cmd: 'pingreq' })
        },
        (keepaliveS * 1000) / 2,
      )
      pingTimer.unref()
    })
  }

  return {
    start() {
      if (isUp) return Promise.resolve()
      isStopping = false
      const up = new Promise<void>((resolve) => {
        onFirstUp = resolve
      })
      if (socket === null && reconnectTimer === null) connect()
      return up
    },

    pause() {
      isPausedByCaller = true
      socket?.pause()
    },

    async stop() {
      if (isStopping && socket === null) return
      isStopping = true
      isPausedByCaller = true
      socket?.pause()
      if (reconnectTimer !== null) clearTimeout(reconnectTimer)
      reconnectTimer = null
      if (unacked > 0) {
        let timer: NodeJS.Timeout | null = null
        await Promise.race([
          new Promise<void>((resolve) => drainWaiters.push(resolve)),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, drainTimeoutMs)
          }),
        ])
        if (timer !== null) clearTimeout(timer)
        if (unacked > 0)
          log.warn({ unacked }, 'stopping with unacknowledged messages: the broker sends them again')
      }
      flushAcks()
      const sock = socket
      socket = null
      clearConnection()
      onFirstUp = null
      if (sock !== null) {
        await new Promise<void>((resolve) => {
          sock.once('close', () => resolve())
          sock.end(mqttPacket.generate({ cmd: 'disconnect' }))
          setTimeout(() => sock.destroy(), 2000).unref()
        })
      }
    },

    reconnect() {
      if (isStopping) return
      log.warn({ unacked }, 'reconnecting to have unacknowledged messages delivered again')
      socket?.destroy()
    },

    isConnected: () => isUp,
    unacked: () => unacked,
  }
}
