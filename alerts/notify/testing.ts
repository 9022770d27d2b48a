/**
 * Test helpers: a real HTTP webhook receiver on 127.0.0.1, and alert changes to feed the notifier.
 */

import { randomUUID } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AlertChange } from '../../domain/alert-change.ts'

export type ReceivedRequest = {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

export type Receiver = {
  url: string
  port: number
  requests: ReceivedRequest[]
  /** What the next requests get; default 200 `{"errcode":0,"errmsg":"ok"}`. */
  respond: (req: ReceivedRequest) => { status: number; body: string; delayMs?: number }
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>
  close(): Promise<void>
}

/** Starts a receiver on `port` (0: any free port). */
export async function startReceiver(port = 0): Promise<Receiver> {
  const requests: ReceivedRequest[] = []
  const waiters: Array<{ count: number; resolve: () => void }> = []
  let server: Server | null = null
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    respond: () => ({ status: 200, body: '{"errcode":0,"errmsg":"ok"}' }),
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests.slice())
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`receiver got ${requests.length} of ${count} requests`)),
          timeoutMs,
        )
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer)
            resolve(requests.slice())
          },
        })
      })
    },
    close() {
      return new Promise((resolve) => {
        if (!server) return resolve()
        server.closeAllConnections()
        server.close(() => resolve())
      })
    },
  }
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      }
      requests.push(received)
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
      const answer = receiver.respond(received)
      const reply = () => {
        if (res.destroyed) return
        res.writeHead(answer.status, { 'content-type': 'application/json' })
        res.end(answer.body)
      }
      if (answer.delayMs) setTimeout(reply, answer.delayMs)
      else reply()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server?.once('error', reject)
    server?.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  receiver.port = typeof address === 'object' && address ? address.port : 0
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`
  return receiver
}

/** A valid alert change; override what the test is about. */
export function alertChange(overrides: Partial<AlertChange> = {}): AlertChange {
  return {
    alertId: `al-${randomUUID().slice(0, 8)}`,
    transition: 'raised',
    type: 'trapped',
    severity: 'critical',
    status: 'open',
    deviceId: 'el-1',
    siteId: 'site-1',
    tenantId: 'firm-a',
    siteCategory: 'market',
    count: 1,
    at: Date.parse('2025-03-01T06:05:09Z'),
    actor: 'engine',
    ...overrides,
  }
}
