/**
 * A lean MQTT 3.1.1 device connection: CONNECT, PUBLISH QoS 1, PUBACK, PINGREQ, DISCONNECT, nothing
 * else, from a chosen local address. mqtt.js costs tens of microseconds and kilobytes per device in
 * stores and timers; with tens of thousands of devices on two cores shared with the platform, the
 * generator would measure itself rather than the server. The per-message packets (PUBLISH out, PUBACK
 * in) go through device-codec.ts; mqtt-packet (the library of mqtt.js and aedes) writes the others.
 */
import { connect as netConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { createPacketReader, encodePublishQos1, PACKET } from './device-codec.ts'

export type RawConnectOptions = {
  host: string
  port: number
  /** Source address (127.0.0.x spreads connections over more ephemeral ports). */
  localAddress?: string
  clientId: string
  username?: string
  password?: string
  /** Sent in CONNECT; the caller pings (pingIfIdle) so that the broker keeps the session. */
  keepaliveS: number
  /** No CONNACK within this time: the attempt fails. */
  timeoutMs: number
}

export type RawConnection = {
  /** A string payload is sent as UTF-8. */
  publish(topic: string, payload: Buffer | string, onAck: (err: Error | null) => void): void
  /** Sends PINGREQ when nothing was written for `idleMs`. */
  pingIfIdle(now: number, idleMs: number): void
  inflight(): number
  isOpen(): boolean
  onClose(listener: (reason: string) => void): void
  /** DISCONNECT and close (waits at most 1 s for the socket to finish). */
  end(): Promise<void>
  destroy(): void
}

/** A refused or failed connection attempt; `code` is the CONNACK return code when there was one. */
export class ConnectError extends Error {
  readonly code: number | null
  constructor(message: string, code: number | null) {
    super(message)
    this.code = code
  }
}

export function connectRaw(o: RawConnectOptions): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: o.host, port: o.port, localAddress: o.localAddress })
    socket.setNoDelay(true)
    const waiting = new Map<number, (err: Error | null) => void>()
    const closeListeners: Array<(reason: string) => void> = []
    let nextId = 1
    let isConnected = false
    let isClosed = false
    let lastError = ''
    let lastWriteAt = Date.now()
    let pendingWrites: Buffer[] = []
    let isFlushScheduled = false

    const timer = setTimeout(() => {
      if (isConnected) return
      socket.destroy()
      reject(new ConnectError(`${o.clientId}: no CONNACK within ${o.timeoutMs} ms`, null))
    }, o.timeoutMs)

    const flush = (): void => {
      isFlushScheduled = false
      if (pendingWrites.length === 0 || isClosed) return
      const chunk = pendingWrites.length === 1 ? pendingWrites[0] : Buffer.concat(pendingWrites)
      pendingWrites = []
      lastWriteAt = Date.now()
      if (chunk) socket.write(chunk)
    }
    const queue = (packet: Buffer): void => {
      pendingWrites.push(packet)
      if (!isFlushScheduled) {
        isFlushScheduled = true
        setImmediate(flush)
      }
    }
    const failAll = (err: Error): void => {
      for (const cb of waiting.values()) cb(err)
      waiting.clear()
    }

    const connection: RawConnection = {
      publish(topic, payload, onAck) {
        if (isClosed) {
          onAck(new Error(`${o.clientId}: connection closed`))
          return
        }
        let id = nextId
        nextId = nextId >= 65535 ? 1 : nextId + 1
        while (waiting.has(id)) id = id >= 65535 ? 1 : id + 1
        waiting.set(id, onAck)
        queue(encodePublishQos1(topic, payload, id))
      },
      pingIfIdle(now, idleMs) {
        if (isConnected && !isClosed && now - lastWriteAt >= idleMs)
          queue(mqttPacket.generate({ cmd: 'pingreq' }))
      },
      inflight: () => waiting.size,
      isOpen: () => isConnected && !isClosed,
      onClose(listener) {
        closeListeners.push(listener)
      },
      end: () =>
        new Promise<void>((done) => {
          if (isClosed) {
            done()
            return
          }
          flush()
          socket.end(mqttPacket.generate({ cmd: 'disconnect' }), () => done())
          setTimeout(done, 1000).unref()
        }),
      destroy: () => socket.destroy(),
    }

    const read = createPacketReader((type, body) => {
      if (type === PACKET.puback && body.length >= 2) {
        const id = body.readUInt16BE(0)
        const cb = waiting.get(id)
        waiting.delete(id)
        cb?.(null)
      } else if (type === PACKET.connack && body.length >= 2) {
        clearTimeout(timer)
        const returnCode = body[1] as number
        if (returnCode !== 0) {
          socket.destroy()
          reject(new ConnectError(`${o.clientId}: CONNACK ${returnCode}`, returnCode))
          return
        }
        isConnected = true
        resolve(connection)
      } else if (type !== PACKET.pingresp) {
        // A device that subscribes to nothing is sent nothing else.
        socket.destroy(new Error(`${o.clientId}: unexpected packet of type ${type}`))
      }
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        read(chunk)
      } catch (err) {
        socket.destroy(err as Error)
      }
    })
    socket.on('error', (err) => {
      lastError = err.message.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'addr')
      if (!isConnected) {
        clearTimeout(timer)
        reject(new ConnectError(`${o.clientId}: ${err.message}`, null))
      }
    })
    socket.on('close', () => {
      clearTimeout(timer)
      const wasConnected = isConnected && !isClosed
      isClosed = true
      if (!isConnected) reject(new ConnectError(`${o.clientId}: closed before CONNACK`, null))
      failAll(new Error(`${o.clientId}: connection closed`))
      if (wasConnected) for (const l of closeListeners) l(lastError || 'closed by the server')
    })
    socket.on('connect', () => {
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId: o.clientId,
          keepalive: o.keepaliveS,
          username: o.username,
          password: o.password === undefined ? undefined : Buffer.from(o.password),
        }),
      )
    })
  })
}
