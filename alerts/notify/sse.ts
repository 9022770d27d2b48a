/**
 * The live stream of alert changes (server-sent events). Each client brings its own filter (the API
 * scopes a tenant to its own alerts); a ring of recent changes lets a client that reconnects with
 * `Last-Event-ID` catch up on what it missed.
 */
import type { ServerResponse } from 'node:http'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Logger } from '../../domain/logger.ts'
import type { AlertChangeEvent } from '../types.ts'
import type { NotifyConfig } from './config.ts'

export type SseHubDeps = {
  config: Pick<NotifyConfig, 'SSE_HEARTBEAT_MS' | 'SSE_REPLAY_SIZE' | 'SSE_MAX_BUFFER_BYTES'>
  logger: Logger
  metrics: Registry
  now?: () => number
}

export type SseAttachOptions = {
  /** Which changes this client may see. */
  filter: (event: AlertChangeEvent) => boolean
  /** The `Last-Event-ID` header (or query) of a reconnecting client. */
  lastEventId?: string | null
  /** Extra response headers (CORS, say). */
  headers?: Record<string, string | number | string[]>
  /** For logs: who is listening. */
  label?: string
}

export type SseHub = ReturnType<typeof createSseHub>

type Client = {
  res: ServerResponse
  filter: (event: AlertChangeEvent) => boolean
  label: string
}

type Buffered = { seq: number; event: AlertChangeEvent; frame: string }

/** The browser's EventSource waits this long before reconnecting. */
const RETRY_MS = 3000

export function createSseHub(deps: SseHubDeps) {
  const { config } = deps
  const log = deps.logger.child({ component: 'sse' })
  const now = deps.now ?? Date.now
  // Event ids are `${boot}.${seq}`: an id from before a restart is recognised as such, not misread.
  const boot = now().toString(36)
  let seq = 0
  const ring: Buffered[] = []
  const clients = new Set<Client>()
  let heartbeat: NodeJS.Timeout | undefined

  new Gauge({
    name: 'sse_clients',
    help: 'Open server-sent-event streams of alert changes',
    registers: [deps.metrics],
    collect() {
      this.set(clients.size)
    },
  })
  const dropped = new Counter({
    name: 'sse_clients_dropped_total',
    help: 'SSE streams closed by the server because the client did not keep up',
    registers: [deps.metrics],
  })
  const filterErrors = new Counter({
    name: 'sse_filter_errors_total',
    help: 'Changes not sent to a client because its filter threw',
    registers: [deps.metrics],
  })

  function write(client: Client, frame: string): void {
    if (client.res.destroyed || client.res.writableEnded) {
      clients.delete(client)
      return
    }
    client.res.write(frame)
    // A client that stops reading would make us buffer every change for it: cut it off; it
    // reconnects with Last-Event-ID and replays what it missed.
    if (client.res.writableLength > config.SSE_MAX_BUFFER_BYTES) {
      dropped.inc()
      log.warn({ client: client.label, buffered: client.res.writableLength }, 'slow SSE client dropped')
      clients.delete(client)
      client.res.destroy()
    }
  }

  function visible(client: Client, event: AlertChangeEvent): boolean {
    try {
      return client.filter(event)
    } catch (err) {
      filterErrors.inc()
      log.error({ err, client: client.label }, 'SSE filter failed')
      return false
    }
  }

  function frameOf(id: number, event: AlertChangeEvent): string {
    return `id: ${boot}.${id}\nevent: alert\ndata: ${JSON.stringify(event)}\n\n`
  }

  /** The changes after `lastEventId`, or null when they are no longer (or never were) in the ring. */
  function replayAfter(lastEventId: string): Buffered[] | null {
    const [idBoot, idSeq] = lastEventId.split('.')
    const last = Number(idSeq)
    if (idBoot !== boot || !Number.isInteger(last) || last > seq) return null
    const oldest = ring[0]?.seq ?? seq + 1
    if (last < oldest - 1) return null
    return ring.filter((b) => b.seq > last)
  }

  return {
    start(): void {
      if (heartbeat) return
      heartbeat = setInterval(() => {
        for (const client of clients) write(client, `: ping ${now()}\n\n`)
      }, config.SSE_HEARTBEAT_MS)
      heartbeat.unref()
    },

    /** Ends every stream (clients reconnect to whichever process serves next). Safe twice. */
    stop(): void {
      clearInterval(heartbeat)
      heartbeat = undefined
      for (const client of clients) client.res.end()
      clients.clear()
    },

    /** Sends a change to every client whose filter lets it through. Never throws. */
    publish(event: AlertChangeEvent): void {
      seq += 1
      const frame = frameOf(seq, event)
      if (config.SSE_REPLAY_SIZE > 0) {
        ring.push({ seq, event, frame })
        if (ring.length > config.SSE_REPLAY_SIZE) ring.shift()
      }
      for (const client of clients) {
        if (visible(client, event)) write(client, frame)
      }
    },

    /**
     * Takes over a response: writes the event-stream headers, replays what a reconnecting client
     * missed (or sends `reset` when that is no longer possible, so it reloads), then `ready`.
     */
    attach(res: ServerResponse, options: SseAttachOptions): void {
      res.writeHead(200, {
        ...options.headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses unless told otherwise
        'x-accel-buffering': 'no',
      })
      res.socket?.setNoDelay(true)
      const client: Client = { res, filter: options.filter, label: options.label ?? 'anonymous' }
      let head = `retry: ${RETRY_MS}\n\n`
      if (options.lastEventId) {
        const missed = replayAfter(options.lastEventId)
        if (missed === null) head += 'event: reset\ndata: {}\n\n'
        else for (const b of missed) if (visible(client, b.event)) head += b.frame
      }
      // `ready` carries the current id, so even a client that saw no change replays from here, and the
      // heartbeat interval, so a client knows how long a silent connection may last before it is dead.
      head += `id: ${boot}.${seq}\nevent: ready\ndata: {"heartbeatMs":${config.SSE_HEARTBEAT_MS}}\n\n`
      clients.add(client)
      res.on('close', () => clients.delete(client))
      write(client, head)
    },

    clientCount(): number {
      return clients.size
    },
  }
}
