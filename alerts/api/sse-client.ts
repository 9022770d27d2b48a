/**
 * A minimal server-sent-events client over node:http for tests: it reads the stream as a browser's
 * EventSource would (id, event, data; comments kept apart) and lets a test wait for events.
 */
import { get, type IncomingMessage } from 'node:http'

export type SseEvent = { id: string | null; event: string; data: string }

export type SseStream = {
  status: number
  headers: IncomingMessage['headers']
  events: SseEvent[]
  comments: string[]
  /** Resolves with the first event (already received or coming) that matches. */
  waitFor(match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>
  close(): void
  /** The body, when the server answered with something other than a stream (a 401, say). */
  body(): Promise<string>
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      const waiters: Array<{ match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = []
      let buffer = ''
      let text = ''
      let onEnd: () => void = () => {}
      const ended = new Promise<void>((r) => {
        onEnd = r
      })
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        buffer += chunk
        const blocks = buffer.split('\n\n')
        buffer = blocks.pop() ?? ''
        for (const block of blocks) {
          let id: string | null = null
          let event = 'message'
          const data: string[] = []
          let isEvent = false
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else if (line.startsWith('id: ')) id = line.slice(4)
            else if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) {
              data.push(line.slice(6))
              isEvent = true
            }
          }
          if (!isEvent) continue
          const parsed = { id, event, data: data.join('\n') }
          events.push(parsed)
          for (const waiter of waiters.slice()) {
            if (waiter.match(parsed)) {
              waiters.splice(waiters.indexOf(waiter), 1)
              waiter.resolve(parsed)
            }
          }
        }
      })
      res.on('end', () => onEnd())
      res.on('close', () => onEnd())
      res.on('error', () => onEnd())
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        ended,
        waitFor(match, timeoutMs = 5_000) {
          const found = events.find(match)
          if (found) return Promise.resolve(found)
          return new Promise((resolveEvent, rejectEvent) => {
            const timer = setTimeout(() => rejectEvent(new Error('no matching SSE event in time')), timeoutMs)
            waiters.push({
              match,
              resolve: (e) => {
                clearTimeout(timer)
                resolveEvent(e)
              },
            })
          })
        },
        close() {
          request.destroy()
        },
        async body() {
          await ended
          return text
        },
      })
    })
    request.on('error', reject)
  })
}
