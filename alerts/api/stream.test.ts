import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRegistry } from '../../registry/registry.ts'
import { openSse, type SseEvent, type SseStream } from './sse-client.ts'
import { type ApiFixture, type FixtureOptions, startApiFixture } from './testing.ts'

async function listening(options: FixtureOptions = {}): Promise<ApiFixture & { base: string }> {
  const f = await startApiFixture(options)
  const address = await f.app.listen({ port: 0, host: '127.0.0.1' })
  return Object.assign(f, { base: address })
}

async function stream(base: string, token: string, extra = '', headers: Record<string, string> = {}) {
  const s = await openSse(`${base}/api/alerts/stream?access_token=${token}${extra}`, headers)
  onTestFinished(() => s.close())
  expect(s.status).toBe(200)
  await s.waitFor((e) => e.event === 'ready')
  return s
}

const alertEvents = (s: SseStream) =>
  s.events
    .filter((e) => e.event === 'alert')
    .map(
      (e) =>
        JSON.parse(e.data) as {
          change: { deviceId: string; transition: string; type: string }
          alert: { id: string }
        },
    )

const isAlertOn =
  (deviceId: string, transition = 'raised') =>
  (e: SseEvent) =>
    e.event === 'alert' &&
    JSON.parse(e.data).change.deviceId === deviceId &&
    JSON.parse(e.data).change.transition === transition

describe('alert stream (SSE)', () => {
  it('streams each change to every client allowed to see it, and only to them', async () => {
    const f = await listening()
    const admin = await stream(f.base, f.tokens.admin)
    const viewer = await stream(f.base, f.tokens.viewer)
    const tenantA = await stream(f.base, f.tokens.tenantA)
    const tenantB = await stream(f.base, f.tokens.tenantB)
    expect(admin.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(f.notifier.sse.clientCount()).toBe(4)

    await f.elevatorEvent('el-a1', 'trapped')
    const seenByA = await tenantA.waitFor(isAlertOn('el-a1'))
    await admin.waitFor(isAlertOn('el-a1'))
    await viewer.waitFor(isAlertOn('el-a1'))
    expect(seenByA.id).toMatch(/^[a-z0-9]+\.\d+$/)
    const payload = JSON.parse(seenByA.data)
    expect(payload.change).toMatchObject({ type: 'trapped', severity: 'critical', tenantId: 'firm-a' })
    expect(payload.alert.rescue.dispatchedTo).toBe('firm-a')

    // B's stream works (it gets its own alert) and never carried A's
    await f.elevatorEvent('el-b1', 'door_open_fault')
    await tenantB.waitFor(isAlertOn('el-b1'))
    await admin.waitFor(isAlertOn('el-b1'))
    expect(alertEvents(tenantB).map((e) => e.change.deviceId)).toEqual(['el-b1'])
    expect(alertEvents(tenantA).every((e) => e.change.deviceId === 'el-a1')).toBe(true)

    // actions appear on the stream too
    const alertId = payload.alert.id
    await f.app.inject({ method: 'POST', url: `/api/alerts/${alertId}/accept`, headers: f.auth('tenantA') })
    await tenantA.waitFor(isAlertOn('el-a1', 'accepted'))
    await admin.waitFor(isAlertOn('el-a1', 'accepted'))
    const metrics = await f.metrics.metrics()
    expect(metrics).toContain('sse_clients 4')
  })

  it('filters by minimum severity when asked', async () => {
    const f = await listening()
    const critical = await stream(f.base, f.tokens.duty, '&minSeverity=critical')
    await f.elevatorEvent('el-b1', 'door_open_fault')
    await f.elevatorEvent('el-a1', 'trapped')
    await critical.waitFor(isAlertOn('el-a1'))
    expect(alertEvents(critical).map((e) => e.change.type)).not.toContain('door_open_fault')
  })

  it('takes the token as a header too, and refuses without one', async () => {
    const f = await listening()
    const header = await openSse(`${f.base}/api/alerts/stream`, { authorization: `Bearer ${f.tokens.duty}` })
    onTestFinished(() => header.close())
    expect(header.status).toBe(200)
    const none = await openSse(`${f.base}/api/alerts/stream`)
    expect(none.status).toBe(401)
    expect(JSON.parse(await none.body()).error.code).toBe('UNAUTHORIZED')
    const bad = await openSse(`${f.base}/api/alerts/stream?access_token=lsk_wrong`)
    expect(bad.status).toBe(401)
    await bad.body()
  })

  it('replays what a reconnecting client missed (Last-Event-ID), scoped; resets when it cannot', async () => {
    const f = await listening()
    const first = await stream(f.base, f.tokens.tenantA)
    const ready = await first.waitFor((e) => e.event === 'ready')
    first.close()
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-b1', 'door_open_fault')
    await f.elevatorEvent('el-a1', 'trapped')

    const again = await stream(f.base, f.tokens.tenantA, '', { 'last-event-id': ready.id ?? '' })
    expect(
      alertEvents(again).map((e) => `${e.change.deviceId}:${e.change.type}:${e.change.transition}`),
    ).toEqual(['el-a1:door_open_fault:raised', 'el-a1:trapped:raised', 'el-a1:trapped:dispatched'])
    // replayed events come before `ready`, so the client knows when it has caught up
    expect(again.events.at(-1)?.event).toBe('ready')

    const stale = await stream(f.base, f.tokens.tenantA, '', { 'last-event-id': 'oldboot.12' })
    expect(stale.events.map((e) => e.event)).toEqual(['reset', 'ready'])
  })

  it('writes heartbeat comments on idle streams', async () => {
    const f = await listening({ env: { SSE_HEARTBEAT_MS: '50' } })
    const s = await stream(f.base, f.tokens.viewer)
    for (let i = 0; i < 100 && s.comments.length < 2; i += 1) await new Promise((r) => setTimeout(r, 20))
    expect(s.comments.filter((c) => c.startsWith('ping')).length).toBeGreaterThanOrEqual(2)
  })

  it('ends open streams when the app closes', async () => {
    const f = await listening()
    const s = await stream(f.base, f.tokens.viewer)
    await f.app.close()
    await s.ended
    expect(f.notifier.sse.clientCount()).toBe(0)
  })

  it('ends a stream when its token is revoked', async () => {
    const f = await listening()
    const { token, record } = f.registry.createApiToken({ name: 'screen', role: 'viewer' })
    const s = await stream(f.base, token)
    const other = await stream(f.base, f.tokens.viewer)
    const res = await f.app.inject({
      method: 'DELETE',
      url: `/api/tokens/${record.id}`,
      headers: f.auth('admin'),
    })
    expect(res.statusCode).toBe(204)
    await s.ended
    expect(f.notifier.sse.clientCount()).toBe(1)
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await other.waitFor(isAlertOn('el-a1'))
  })

  it('ends a stream whose token another process revoked (the operator CLI)', async () => {
    const f = await listening()
    const { token, record } = f.registry.createApiToken({ name: 'screen', role: 'viewer' })
    const s = await stream(f.base, token)
    const cli = createRegistry({ file: join(f.dir, 'registry.db') })
    cli.revokeApiToken(record.id)
    cli.close()
    await s.ended
    expect(f.notifier.sse.clientCount()).toBe(0)
  })
})
