import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { deadLetterFile, openDeadLetterStore } from '../../ingest/dead-letters.ts'
import { startReceiver } from '../notify/testing.ts'
import { startApiFixture } from './testing.ts'

type Field = { path: string; message: string; in?: string }
const paths = (body: { error: { fields?: Field[] } }) => (body.error.fields ?? []).map((f) => f.path).sort()

describe('validation', () => {
  it('answers a bad body with 400 and every failing field', async () => {
    const f = await startApiFixture()
    const res = await f.app.inject({
      method: 'POST',
      url: '/api/devices/elevators',
      headers: f.auth('admin'),
      payload: {
        siteId: 'site-1',
        tenantId: 'firm-a',
        registrationCode: '123',
        ratedSpeedMps: -1,
        floors: 1,
      },
    })
    expect(res.statusCode).toBe(400)
    const body = res.json()
    expect(body.error.code).toBe('INVALID_INPUT')
    expect(paths(body)).toEqual(['floors', 'ratedSpeedMps', 'registrationCode'])
    expect(body.error.fields.every((x: Field) => x.in === 'body' && x.message.length > 0)).toBe(true)
  })

  it('answers a bad query with 400 and its fields', async () => {
    const f = await startApiFixture()
    const res = await f.app.inject({
      url: '/api/alerts?severity=bogus&limit=0&from=yesterday&siteCategory=casino',
      headers: f.auth('duty'),
    })
    expect(res.statusCode).toBe(400)
    expect(paths(res.json())).toEqual(['from', 'limit', 'severity', 'siteCategory'])
    expect(res.json().error.fields[0].in).toBe('querystring')
    const tooBig = await f.app.inject({ url: '/api/devices?limit=100000', headers: f.auth('duty') })
    expect(paths(tooBig.json())).toEqual(['limit'])
  })

  it('answers malformed JSON, an unknown action and an unknown route in the same shape', async () => {
    const f = await startApiFixture()
    const json = await f.app.inject({
      method: 'POST',
      url: '/api/sites',
      headers: { ...f.auth('admin'), 'content-type': 'application/json' },
      payload: '{"name":',
    })
    expect(json.statusCode).toBe(400)
    expect(json.json().error).toEqual({ code: expect.any(String), message: expect.any(String) })
    const action = await f.app.inject({
      method: 'POST',
      url: '/api/alerts/x/explode',
      headers: f.auth('admin'),
    })
    expect(action.statusCode).toBe(400)
    expect(paths(action.json())).toEqual(['action'])
    const route = await f.app.inject({ url: '/api/nothing-here', headers: f.auth('admin') })
    expect(route.statusCode).toBe(404)
    expect(route.json().error.code).toBe('NOT_FOUND')
  })

  it('requires a note for a comment', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-a1', 'door_open_fault')
    const [alert] = (await f.app.inject({ url: '/api/alerts', headers: f.auth('duty') })).json().items
    const res = await f.app.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/comment`,
      headers: f.auth('duty'),
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({ code: 'NOTE_REQUIRED', fields: [{ path: 'note', in: 'body' }] })
  })
})

describe('devices, sites, tenants', () => {
  it('lists devices with filters and pagination', async () => {
    const f = await startApiFixture()
    const get = async (query: string) =>
      (await f.app.inject({ url: `/api/devices${query}`, headers: f.auth('duty') })).json()
    expect((await get('')).total).toBe(3)
    expect((await get('?kind=scale')).items.map((d: { id: string }) => d.id)).toEqual(['sc-m1'])
    expect((await get('?category=school')).items.map((d: { id: string }) => d.id)).toEqual(['el-b1'])
    expect((await get('?site=site-1&kind=elevator')).items.map((d: { id: string }) => d.id)).toEqual([
      'el-a1',
    ])
    expect((await get('?tenant=firm-b')).total).toBe(1)
    const page = await get('?limit=2&offset=2')
    expect(page).toMatchObject({ total: 3, limit: 2, offset: 2 })
    expect(page.items).toHaveLength(1)
  })

  it('shows one device with its site, tenant, flags, snapshot and active alerts', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-b1', 'door_open_fault')
    const res = await f.app.inject({ url: '/api/devices/el-b1', headers: f.auth('duty') })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.device).toMatchObject({
      id: 'el-b1',
      kind: 'elevator',
      registrationCode: '31104201002021000002',
    })
    expect(body.site.name).toBe('宝丰路小学')
    expect(body.tenant.id).toBe('firm-b')
    // its inspection certificate ran out in 2000
    expect(body.flags).toMatchObject({ inspectionOverdue: true, verificationOverdue: false })
    expect(body.activeAlerts.map((a: { type: string }) => a.type)).toContain('door_open_fault')
    expect(body.snapshot.recentEvents.map((e: { code: string }) => e.code)).toContain('door_open_fault')
    const a1 = (await f.app.inject({ url: '/api/devices/el-a1', headers: f.auth('duty') })).json()
    expect(a1.flags.inspectionOverdue).toBe(false)
  })

  it('lets an admin register devices and issue a secret that is shown once', async () => {
    const f = await startApiFixture()
    const created = await f.app.inject({
      method: 'POST',
      url: '/api/devices/scales',
      headers: f.auth('admin'),
      payload: {
        id: 'sc-new',
        siteId: 'site-1',
        tenantId: 'market-op',
        certificateNo: 'WH-2025-0099',
        maxKg: 15,
        eG: 5,
      },
    })
    expect(created.statusCode).toBe(201)
    expect(created.json()).toMatchObject({
      id: 'sc-new',
      kind: 'scale',
      accuracyClass: 'III',
      inService: true,
    })
    const unknownSite = await f.app.inject({
      method: 'POST',
      url: '/api/devices/scales',
      headers: f.auth('admin'),
      payload: { siteId: 'nowhere', tenantId: 'market-op', certificateNo: 'WH-X', maxKg: 15, eG: 5 },
    })
    expect(unknownSite.statusCode).toBe(400)
    expect(unknownSite.json().error.code).toBe('UNKNOWN_REFERENCE')

    const issued = await f.app.inject({
      method: 'POST',
      url: '/api/devices/sc-new/secret',
      headers: f.auth('admin'),
    })
    expect(issued.statusCode).toBe(201)
    expect(issued.headers['cache-control']).toBe('no-store')
    const { secret } = issued.json()
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await f.registry.checkCredentials('sc-new', secret)).ok).toBe(true)
    const detail = await f.app.inject({ url: '/api/devices/sc-new', headers: f.auth('admin') })
    expect(JSON.stringify(detail.json())).not.toContain(secret)
    expect(detail.json().credential).toMatchObject({ version: 1, revokedAt: null })

    expect(
      (await f.app.inject({ method: 'POST', url: '/api/devices/sc-new/revoke', headers: f.auth('admin') }))
        .statusCode,
    ).toBe(204)
    expect(await f.registry.checkCredentials('sc-new', secret)).toEqual({ ok: false, reason: 'revoked' })
    const off = await f.app.inject({
      method: 'PUT',
      url: '/api/devices/sc-new/in-service',
      headers: f.auth('admin'),
      payload: { inService: false },
    })
    expect(off.json().inService).toBe(false)
    expect(
      (await f.app.inject({ method: 'POST', url: '/api/devices/ghost/secret', headers: f.auth('admin') }))
        .statusCode,
    ).toBe(404)
  })

  it('lists and creates sites and tenants', async () => {
    const f = await startApiFixture()
    const site = await f.app.inject({
      method: 'POST',
      url: '/api/sites',
      headers: f.auth('admin'),
      payload: { id: 'site-3', name: '武商广场', category: 'mall', address: '武汉市硚口区解放大道' },
    })
    expect(site.statusCode).toBe(201)
    const malls = await f.app.inject({ url: '/api/sites?category=mall', headers: f.auth('viewer') })
    expect(malls.json()).toMatchObject({ total: 1, items: [{ id: 'site-3', name: '武商广场' }] })
    const tenants = await f.app.inject({ url: '/api/tenants', headers: f.auth('viewer') })
    expect(tenants.json().total).toBe(3)
    expect((await f.app.inject({ url: '/api/tenants/firm-b', headers: f.auth('viewer') })).json().name).toBe(
      '汉口恒通电梯工程有限公司',
    )
  })

  it('manages tokens: created once, listed without secrets, refused for a tenant role without tenant', async () => {
    const f = await startApiFixture()
    const bad = await f.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: f.auth('admin'),
      payload: { name: 'x', role: 'tenant' },
    })
    expect(bad.statusCode).toBe(400)
    expect(paths(bad.json())).toEqual(['tenantId'])
    const created = await f.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: f.auth('admin'),
      payload: { name: 'market', role: 'tenant', tenantId: 'market-op' },
    })
    expect(created.statusCode).toBe(201)
    const list = await f.app.inject({ url: '/api/tokens', headers: f.auth('admin') })
    expect(list.json().items).toHaveLength(6)
    expect(list.body).not.toContain(created.json().token)
    expect(
      (await f.app.inject({ method: 'DELETE', url: '/api/tokens/tok-nope', headers: f.auth('admin') }))
        .statusCode,
    ).toBe(404)
  })
})

describe('alerts', () => {
  it('filters by status, type, severity, site, tenant, device, category and time, and pages with a cursor', async () => {
    const f = await startApiFixture()
    const before = Date.now() - 1
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-a1', 'trapped')
    await f.elevatorEvent('el-b1', 'door_close_fault')
    const q = async (query: string) =>
      (await f.app.inject({ url: `/api/alerts${query}`, headers: f.auth('duty') })).json() as {
        items: Array<{ type: string; deviceId: string; id: string }>
        total: number
        nextCursor: string | null
      }
    expect((await q('')).total).toBe(3)
    expect((await q('?type=trapped')).items.map((a) => a.deviceId)).toEqual(['el-a1'])
    expect((await q('?severity=critical')).items.map((a) => a.type)).toEqual(['trapped'])
    expect((await q('?site=site-2')).items.map((a) => a.type)).toEqual(['door_close_fault'])
    expect((await q('?tenant=firm-a')).total).toBe(2)
    expect((await q('?device=el-b1')).total).toBe(1)
    expect((await q('?siteCategory=school')).total).toBe(1)
    expect((await q('?status=active')).total).toBe(3)
    expect((await q('?status=resolved')).total).toBe(0)
    expect((await q(`?from=${before}`)).total).toBe(3)
    expect((await q(`?to=${before}`)).total).toBe(0)
    expect((await q(`?from=${new Date(before).toISOString()}`)).total).toBe(3)
    expect((await q('?from=2099-01-01')).total).toBe(0)

    const first = await q('?limit=2')
    expect(first.items).toHaveLength(2)
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await q(`?limit=2&cursor=${first.nextCursor}`)
    expect(second.items).toHaveLength(1)
    expect(second.nextCursor).toBeNull()
    const ids = [...first.items, ...second.items].map((a) => a.id)
    expect(new Set(ids).size).toBe(3)
    const badCursor = await f.app.inject({ url: '/api/alerts?cursor=xyz', headers: f.auth('duty') })
    expect(paths(badCursor.json())).toEqual(['cursor'])
  })

  it('shows an alert with its transitions and works it through', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-b1', 'door_open_fault')
    const [alert] = (await f.app.inject({ url: '/api/alerts', headers: f.auth('duty') })).json().items
    const act = (action: string, note?: string) =>
      f.app.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/${action}`,
        headers: f.auth('duty'),
        ...(note ? { payload: { note } } : {}),
      })
    expect((await act('acknowledge')).json().status).toBe('acknowledged')
    expect((await act('comment', '已通知维保单位')).statusCode).toBe(200)
    const resolved = await act('resolve', '门机已修复')
    expect(resolved.json()).toMatchObject({
      status: 'resolved',
      resolvedBy: '值班员 王',
      resolutionNote: '门机已修复',
    })
    expect((await act('acknowledge')).statusCode).toBe(409)
    const detail = (await f.app.inject({ url: `/api/alerts/${alert.id}`, headers: f.auth('viewer') })).json()
    expect(detail.transitions.map((t: { transition: string }) => t.transition)).toEqual([
      'raised',
      'acknowledged',
      'commented',
      'resolved',
    ])
    expect(detail.transitions[2]).toMatchObject({ actor: '值班员 王', note: '已通知维保单位' })
    expect((await f.app.inject({ url: '/api/alerts/nope', headers: f.auth('duty') })).statusCode).toBe(404)
  })
})

describe('records', () => {
  it('opens and closes a verification session and records inspections', async () => {
    const f = await startApiFixture()
    const open = await f.app.inject({
      method: 'POST',
      url: '/api/devices/sc-m1/verifications/open',
      headers: f.auth('duty'),
      payload: { verifier: '武汉市计量测试检定所' },
    })
    expect(open.statusCode).toBe(201)
    const twice = await f.app.inject({
      method: 'POST',
      url: '/api/devices/sc-m1/verifications/open',
      headers: f.auth('duty'),
      payload: { verifier: 'x' },
    })
    expect(twice.statusCode).toBe(409)
    const close = await f.app.inject({
      method: 'POST',
      url: '/api/devices/sc-m1/verifications/close',
      headers: f.auth('duty'),
      payload: { verifiedOn: '2025-03-15', passed: true },
    })
    expect(close.json()).toMatchObject({ passed: true, validUntil: '2026-03-14' })
    const list = await f.app.inject({ url: '/api/devices/sc-m1/verifications', headers: f.auth('viewer') })
    expect(list.json().items).toHaveLength(1)
    const device = await f.app.inject({ url: '/api/devices/sc-m1', headers: f.auth('viewer') })
    expect(device.json().device.nextVerificationDue).toBe('2026-03-14')

    const wrongKind = await f.app.inject({
      method: 'POST',
      url: '/api/devices/el-a1/verifications/open',
      headers: f.auth('duty'),
      payload: { verifier: 'x' },
    })
    expect(wrongKind.statusCode).toBe(400)
    expect(wrongKind.json().error.code).toBe('WRONG_KIND')

    const declared = await f.app.inject({
      method: 'POST',
      url: '/api/devices/el-b1/inspections/declare',
      headers: f.auth('duty'),
      payload: { declaredOn: '2025-02-01' },
    })
    expect(declared.statusCode).toBe(201)
    const inspected = await f.app.inject({
      method: 'POST',
      url: '/api/devices/el-b1/inspections',
      headers: f.auth('duty'),
      payload: { inspectedOn: '2025-02-20', passed: true },
    })
    expect(inspected.json()).toMatchObject({
      declaredOn: '2025-02-01',
      inspectedOn: '2025-02-20',
      actor: '值班员 王',
    })
    const badDate = await f.app.inject({
      method: 'POST',
      url: '/api/devices/el-b1/inspections',
      headers: f.auth('duty'),
      payload: { inspectedOn: '20-02-2025', passed: 'yes' },
    })
    expect(paths(badDate.json())).toEqual(['inspectedOn', 'passed'])
  })

  it('records and lists accidents, and reports compliance for a period', async () => {
    const f = await startApiFixture()
    const at = Date.parse('2025-06-01T02:00:00Z')
    const created = await f.app.inject({
      method: 'POST',
      url: '/api/accidents',
      headers: f.auth('duty'),
      payload: { at, siteId: 'site-1', deviceId: 'el-a1', fatal: false, description: '乘客摔倒,轻伤' },
    })
    expect(created.statusCode).toBe(201)
    expect(created.json()).toMatchObject({ actor: '值班员 王', fatal: false })
    const list = await f.app.inject({
      url: '/api/accidents?from=2025-01-01&to=2026-01-01',
      headers: f.auth('admin'),
    })
    expect(list.json().items).toHaveLength(1)
    const report = await f.app.inject({
      url: '/api/compliance?from=2025-01-01&to=2025-12-31',
      headers: f.auth('duty'),
    })
    expect(report.statusCode).toBe(200)
    expect(report.json()).toMatchObject({
      period: { from: '2025-01-01', to: '2025-12-31', timezone: 'Asia/Shanghai' },
      overall: { fatalAccidents: { count: 0 } },
    })
    const reversed = await f.app.inject({
      url: '/api/compliance?from=2025-12-31&to=2025-01-01',
      headers: f.auth('duty'),
    })
    expect(reversed.statusCode).toBe(400)
    const missing = await f.app.inject({ url: '/api/compliance', headers: f.auth('duty') })
    expect(paths(missing.json())).toEqual(['from', 'to'])
  })

  it('shows ingest’s dead letters to admins and duty officers', async () => {
    const dir = `/tmp/dead-letters-${process.pid}-${Date.now()}`
    const store = openDeadLetterStore(deadLetterFile(dir))
    store.add([
      {
        at: 1,
        topic: 'v1/elevators/el-a1/status',
        deviceId: 'el-a1',
        reason: 'schema',
        message: 'floor: expected int',
        payload: Buffer.from('{"floor":1.5}'),
      },
      {
        at: 2,
        topic: 'v1/elevators/el-a1/status',
        deviceId: 'el-a1',
        reason: 'not_utf8',
        message: 'bad bytes',
        payload: Buffer.from([0xff, 0xfe]),
      },
      {
        at: 3,
        topic: 'v1/scales/sc-m1/events',
        deviceId: 'sc-m1',
        reason: 'schema',
        message: 'code',
        payload: Buffer.from('{}'),
      },
    ])
    const f = await startApiFixture({ deps: { deadLetters: store } })
    const res = await f.app.inject({ url: '/api/dead-letters?limit=2', headers: f.auth('duty') })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.countByReason).toEqual({ schema: 2, not_utf8: 1 })
    expect(body.items.map((d: { at: number }) => d.at)).toEqual([3, 2])
    expect(body.items[1]).toMatchObject({
      payloadText: null,
      payloadBase64: Buffer.from([0xff, 0xfe]).toString('base64'),
    })
    const next = await f.app.inject({
      url: `/api/dead-letters?before=${body.nextBefore}`,
      headers: f.auth('duty'),
    })
    expect(next.json().items.map((d: { at: number }) => d.at)).toEqual([1])
    const schema = await f.app.inject({
      url: '/api/dead-letters?reason=schema&device=sc-m1',
      headers: f.auth('admin'),
    })
    expect(schema.json().items).toHaveLength(1)
    store.close()
    const without = await startApiFixture()
    const none = await without.app.inject({ url: '/api/dead-letters', headers: without.auth('admin') })
    expect(none.statusCode).toBe(503)
    expect(none.json().error.code).toBe('NOT_AVAILABLE')
  })
})

describe('webhook subscriptions over the API', () => {
  it('creates, lists, tests and deletes subscriptions and shows the delivery log', async () => {
    const receiver = await startReceiver()
    const f = await startApiFixture()
    try {
      const bad = await f.app.inject({
        method: 'POST',
        url: '/api/webhooks',
        headers: f.auth('admin'),
        payload: { name: '', url: 'not a url', format: 'slack' },
      })
      expect(paths(bad.json())).toEqual(['format', 'name', 'url'])
      const created = await f.app.inject({
        method: 'POST',
        url: '/api/webhooks',
        headers: f.auth('admin'),
        payload: {
          name: '值班室企业微信',
          url: receiver.url,
          format: 'wecom',
          minSeverity: 'major',
          secret: 'ignored-for-wecom',
        },
      })
      expect(created.statusCode).toBe(201)
      const sub = created.json()
      expect(sub).toMatchObject({ format: 'wecom', minSeverity: 'major', hasSecret: true })
      expect(created.body).not.toContain('ignored-for-wecom')
      expect(
        (await f.app.inject({ url: '/api/webhooks', headers: f.auth('admin') })).json().items,
      ).toHaveLength(1)
      expect((await f.app.inject({ url: '/api/webhooks', headers: f.auth('duty') })).statusCode).toBe(403)

      const test = await f.app.inject({
        method: 'POST',
        url: `/api/webhooks/${sub.id}/test`,
        headers: f.auth('admin'),
      })
      expect(test.statusCode).toBe(202)
      const [req] = await receiver.waitFor(1)
      expect(JSON.parse(req?.body ?? '').markdown.content).toContain('测试消息')

      // a real alert of the subscribed severity goes out too (raised, then dispatched to the firm)
      await f.elevatorEvent('el-a1', 'trapped')
      await receiver.waitFor(3)
      let log = { items: [] as Array<{ id: number; status: string; alertId: string; transition: string }> }
      for (let i = 0; i < 100; i += 1) {
        log = (
          await f.app.inject({ url: `/api/webhooks/deliveries?webhook=${sub.id}`, headers: f.auth('admin') })
        ).json()
        if (log.items.length === 3 && log.items.every((d) => d.status === 'delivered')) break
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(log.items.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered'])
      expect(log.items.map((d) => d.transition).sort()).toEqual(['dispatched', 'raised', 'raised'])
      const one = await f.app.inject({
        url: `/api/webhooks/deliveries/${log.items[0]?.id}`,
        headers: f.auth('admin'),
      })
      expect(one.json().attemptLog).toEqual([
        expect.objectContaining({ attempt: 1, statusCode: 200, error: null }),
      ])

      expect(
        (await f.app.inject({ method: 'DELETE', url: `/api/webhooks/${sub.id}`, headers: f.auth('admin') }))
          .statusCode,
      ).toBe(204)
      expect(
        (await f.app.inject({ url: `/api/webhooks/${sub.id}`, headers: f.auth('admin') })).statusCode,
      ).toBe(404)
    } finally {
      await receiver.close()
    }
  })
})

describe('operations', () => {
  it('reports health, with the checks the entry point adds', async () => {
    const f = await startApiFixture({ deps: { health: () => ({ spool: { ok: false, bytes: 123 } }) } })
    const res = await f.app.inject({ url: '/healthz' })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({
      status: 'degraded',
      checks: { sqlite: { ok: true }, spool: { ok: false, bytes: 123 } },
    })
    const healthy = await startApiFixture()
    expect((await healthy.app.inject({ url: '/healthz' })).json().status).toBe('ok')
  })

  it('serves Prometheus metrics, behind an admin token when configured', async () => {
    const f = await startApiFixture()
    await f.app.inject({ url: '/api/devices', headers: f.auth('duty') })
    const res = await f.app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/api\/devices",status_code="200"\} 1/,
    )
    expect(res.body).toContain('sse_clients 0')
    expect(res.body).toContain('webhook_queue_depth 0')
    // Every reading type's series exists from the start, and counts what the rules evaluated.
    expect(res.body).toContain('alerts_readings_total{type="elevator_event"} 0')
    expect(res.body).toContain('alerts_readings_total{type="scale_weighing"} 0')
    await f.elevatorEvent('el-a1', 'mode_change', { mode: 'inspection' })
    const after = (await f.app.inject({ url: '/metrics' })).body
    expect(after).toContain('alerts_readings_total{type="elevator_event"} 1')
    expect(after).toContain('alerts_readings_total{type="elevator_status"} 0')
    const locked = await startApiFixture({ env: { METRICS_REQUIRE_AUTH: 'true' } })
    expect((await locked.app.inject({ url: '/metrics' })).statusCode).toBe(401)
    expect((await locked.app.inject({ url: '/metrics', headers: locked.auth('viewer') })).statusCode).toBe(
      403,
    )
    expect((await locked.app.inject({ url: '/metrics', headers: locked.auth('admin') })).statusCode).toBe(200)
  })

  it('serves the OpenAPI document at /docs', async () => {
    const f = await startApiFixture()
    const doc = (await f.app.inject({ url: '/docs/json' })).json()
    expect(doc.openapi).toBe('3.0.3')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/alerts', '/api/alerts/{id}/{action}', '/api/devices/{id}', '/healthz']),
    )
    expect(doc.components.schemas.Alert.properties.rescue).toBeDefined()
    expect(doc.paths['/api/alerts'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining([
        'status',
        'type',
        'severity',
        'site',
        'tenant',
        'device',
        'from',
        'to',
        'cursor',
      ]),
    )
    const ui = await f.app.inject({ url: '/docs' })
    expect([200, 302]).toContain(ui.statusCode)
  })

  it('answers CORS preflights for configured origins only', async () => {
    const f = await startApiFixture({ env: { CORS_ORIGINS: 'https://console.example' } })
    const ok = await f.app.inject({
      method: 'OPTIONS',
      url: '/api/alerts',
      headers: { origin: 'https://console.example', 'access-control-request-method': 'GET' },
    })
    expect(ok.statusCode).toBe(204)
    expect(ok.headers['access-control-allow-origin']).toBe('https://console.example')
    const other = await f.app.inject({
      url: '/api/alerts',
      headers: { ...f.auth('duty'), origin: 'https://evil.example' },
    })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('serves the console’s files at / and its index for client-side routes', async () => {
    const base = await startApiFixture()
    const consoleDir = join(base.dir, 'console')
    mkdirSync(consoleDir)
    writeFileSync(join(consoleDir, 'index.html'), '<!doctype html><title>值班台</title>')
    writeFileSync(join(consoleDir, 'app.js'), 'console.log(1)')
    const f = await startApiFixture({ deps: { consoleDir } })
    expect((await f.app.inject({ url: '/' })).body).toContain('值班台')
    expect((await f.app.inject({ url: '/app.js' })).headers['content-type']).toMatch(/javascript/)
    expect((await f.app.inject({ url: '/alerts/abc' })).body).toContain('值班台')
    expect((await f.app.inject({ url: '/missing.js' })).statusCode).toBe(404)
    expect((await f.app.inject({ url: '/api/alerts', headers: f.auth('duty') })).statusCode).toBe(200)
  })
})
