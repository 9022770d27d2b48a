import { createServer, get, type IncomingMessage } from 'node:http'
import { Registry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../../domain/logger.ts'
import { openSse } from '../api/sse-client.ts'
import type { Alert } from '../types.ts'
import { createSseHub } from './sse.ts'
import { alertChange } from './testing.ts'

function event(n: number) {
  const change = alertChange({ transition: 'repeated', count: n })
  const alert: Alert = {
    id: change.alertId,
    deviceId: change.deviceId,
    deviceKind: 'elevator',
    siteId: change.siteId,
    tenantId: change.tenantId,
    siteCategory: change.siteCategory,
    type: 'trapped',
    severity: 'critical',
    status: 'open',
    count: n,
    title: { zh: '平层关人', en: 'Trapped at floor' },
    // a realistic alert carries details; make each event about 2 KB
    details: { source: 'status', padding: 'x'.repeat(1500) },
    openedAt: change.at,
    lastSeenAt: change.at,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    resolutionNote: null,
    escalated: false,
    rescue: null,
  }
  return { change, alert }
}

describe('SSE hub', () => {
  it('cuts off a client that stops reading, and keeps serving the others', async () => {
    const metrics = new Registry()
    const hub = createSseHub({
      config: { SSE_HEARTBEAT_MS: 60_000, SSE_REPLAY_SIZE: 10, SSE_MAX_BUFFER_BYTES: 1024 * 1024 },
      logger: silentLogger(),
      metrics,
    })
    hub.start()
    const server = createServer((_req, res) => hub.attach(res, { filter: () => true, label: 'test' }))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          hub.stop()
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    )
    const address = server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`
    const reader = await openSse(url)
    await reader.waitFor((e) => e.event === 'ready')
    onTestFinished(() => reader.close())

    // A client that reads the headers and then nothing more.
    const stalled = await new Promise<IncomingMessage>((resolve) => {
      get(url, (res) => resolve(res))
    })
    stalled.pause()
    onTestFinished(() => {
      stalled.destroy()
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(hub.clientCount()).toBe(2)

    // Far more than the socket buffers hold (about 4 MB on loopback), in small bursts the reader keeps up with.
    const total = 6000
    for (let i = 1; i <= total; i += 1) {
      hub.publish(event(i))
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 1))
    }
    expect(hub.clientCount()).toBe(1)
    await reader.waitFor((e) => e.event === 'alert' && JSON.parse(e.data).change.count === total, 20_000)
    expect(hub.clientCount()).toBe(1)
    expect(await metrics.metrics()).toMatch(/sse_clients_dropped_total 1/)
    expect(reader.events.filter((e) => e.event === 'alert')).toHaveLength(total)
  })

  it('replays only the last SSE_REPLAY_SIZE changes; an id older than that gets `reset`', async () => {
    const hub = createSseHub({
      config: { SSE_HEARTBEAT_MS: 60_000, SSE_REPLAY_SIZE: 3, SSE_MAX_BUFFER_BYTES: 1024 * 1024 },
      logger: silentLogger(),
      metrics: new Registry(),
    })
    const server = createServer((req, res) =>
      hub.attach(res, { filter: () => true, lastEventId: req.headers['last-event-id']?.toString() ?? null }),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          hub.stop()
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    )
    const address = server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`
    const first = await openSse(url)
    const ready = await first.waitFor((e) => e.event === 'ready')
    first.close()
    const boot = ready.id?.split('.')[0]
    for (let i = 1; i <= 5; i += 1) hub.publish(event(i))

    const recent = await openSse(url, { 'last-event-id': `${boot}.3` })
    await recent.waitFor((e) => e.event === 'ready')
    expect(
      recent.events.filter((e) => e.event === 'alert').map((e) => JSON.parse(e.data).change.count),
    ).toEqual([4, 5])
    recent.close()

    const tooOld = await openSse(url, { 'last-event-id': `${boot}.0` })
    await tooOld.waitFor((e) => e.event === 'ready')
    expect(tooOld.events.map((e) => e.event)).toEqual(['reset', 'ready'])
    tooOld.close()
  })
})
