/**
 * The live stream of alert changes (GET /api/alerts/stream, server-sent events), read with fetch
 * rather than EventSource: fetch sends the token in the Authorization header (EventSource could only
 * put it in the URL, where proxies log it) and shows the HTTP status, so a revoked token signs out
 * instead of retrying for ever. Reconnects with backoff and `Last-Event-ID`; after every (re)connect
 * `onSync` runs so the board refetches and nothing missed while disconnected is lost. Three heartbeats
 * of silence (the interval the server announces in `ready`) count as a dead connection.
 */
import type { AlertChange, NamedAlert } from '../../alerts/types.ts'

/** One `alert` event as the server sends it: the AlertChange and the alert as the API shows it. */
export type LiveAlertEvent = { change: AlertChange; alert: NamedAlert }

/** Heartbeats that may be missed before the connection counts as dead (docs/api.md). */
const MISSED_HEARTBEATS = 3

/**
 * How long a silent connection may last, from the `ready` event's data (`{"heartbeatMs": 15000}`):
 * three heartbeats, or `fallbackMs` when the server does not say.
 */
export function idleTimeoutOf(readyData: string, fallbackMs: number): number {
  try {
    const parsed: unknown = JSON.parse(readyData)
    if (typeof parsed === 'object' && parsed !== null && 'heartbeatMs' in parsed) {
      const { heartbeatMs } = parsed
      if (typeof heartbeatMs === 'number' && Number.isFinite(heartbeatMs) && heartbeatMs > 0)
        return heartbeatMs * MISSED_HEARTBEATS
    }
  } catch {
    // an older server's `{}` or nothing: keep the fallback
  }
  return fallbackMs
}

export type StreamState = 'connecting' | 'live' | 'reconnecting'

export type AlertStream = { start(): void; stop(): void; state(): StreamState }

export type StreamOptions = {
  authorization: string
  onEvent(event: LiveAlertEvent): void
  /** Connected (`ready`) or told to reload (`reset`): refetch lists. */
  onSync(): void
  onState(state: StreamState): void
  onUnauthorized(): void
  /** Backoff: first retry after this long, doubling to `maxDelayMs`. */
  baseDelayMs?: number
  maxDelayMs?: number
  /**
   * No byte for this long, until the server's `ready` announces its heartbeat: the connection is dead.
   * 45 s: three of the server's default 15 s heartbeats.
   */
  idleTimeoutMs?: number
}

type SseMessage = { event: string; data: string; id: string | null }

/** Splits SSE text into messages; returns what is left of an incomplete message. */
export function parseSse(buffer: string, emit: (message: SseMessage) => void): string {
  let rest = buffer.replace(/\r\n?/g, '\n')
  for (;;) {
    const end = rest.indexOf('\n\n')
    if (end < 0) return rest
    const block = rest.slice(0, end)
    rest = rest.slice(end + 2)
    let event = 'message'
    let id: string | null = null
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
      else if (field === 'id') id = value
    }
    if (data.length > 0 || id !== null) emit({ event, data: data.join('\n'), id })
  }
}

export function createAlertStream(options: StreamOptions): AlertStream {
  const base = options.baseDelayMs ?? 1000
  const max = options.maxDelayMs ?? 30_000
  const fallbackIdleTimeout = options.idleTimeoutMs ?? 45_000
  let idleTimeout = fallbackIdleTimeout
  let state: StreamState = 'connecting'
  let lastEventId: string | null = null
  let attempt = 0
  let running = false
  let controller: AbortController | null = null
  let retryTimer: number | undefined
  let idleTimer: number | undefined

  function setState(next: StreamState): void {
    if (next === state) return
    state = next
    options.onState(next)
  }

  function armIdle(): void {
    window.clearTimeout(idleTimer)
    idleTimer = window.setTimeout(() => controller?.abort(), idleTimeout)
  }

  function scheduleRetry(): void {
    if (!running) return
    setState('reconnecting')
    // Full jitter, so a room of consoles does not reconnect in step after a restart.
    const delay = Math.min(max, base * 2 ** attempt) * (0.5 + Math.random() / 2)
    attempt += 1
    window.clearTimeout(retryTimer)
    retryTimer = window.setTimeout(connect, delay)
  }

  function handle(message: SseMessage): void {
    if (message.id !== null) lastEventId = message.id
    if (message.event === 'ready') {
      idleTimeout = idleTimeoutOf(message.data, fallbackIdleTimeout)
      armIdle()
      attempt = 0
      setState('live')
      options.onSync()
    } else if (message.event === 'reset') {
      options.onSync()
    } else if (message.event === 'alert') {
      try {
        options.onEvent(JSON.parse(message.data) as LiveAlertEvent)
      } catch (err) {
        // One bad message never stops the stream.
        console.warn('alert stream: bad message', err)
      }
    }
  }

  async function connect(): Promise<void> {
    if (!running) return
    const ac = new AbortController()
    controller = ac
    try {
      const headers: Record<string, string> = {
        authorization: options.authorization,
        accept: 'text/event-stream',
      }
      if (lastEventId) headers['last-event-id'] = lastEventId
      const res = await fetch('/api/alerts/stream', { headers, signal: ac.signal, cache: 'no-store' })
      if (res.status === 401) {
        running = false
        options.onUnauthorized()
        return
      }
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`)
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      armIdle()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        armIdle()
        buffer = parseSse(buffer + value, handle)
      }
    } catch {
      // network error, abort by the idle timer or by stop(): retried below unless stopped
    } finally {
      window.clearTimeout(idleTimer)
      if (controller === ac) controller = null
    }
    scheduleRetry()
  }

  return {
    start() {
      if (running) return
      running = true
      setState(attempt === 0 ? 'connecting' : 'reconnecting')
      void connect()
    },
    stop() {
      running = false
      window.clearTimeout(retryTimer)
      window.clearTimeout(idleTimer)
      controller?.abort()
      controller = null
    },
    state: () => state,
  }
}
