import { describe, expect, it } from 'vitest'
import { startApiFixture } from './testing.ts'

/** The alert the engine raises for `code` on `deviceId`, looked up as an admin. */
async function raise(
  f: Awaited<ReturnType<typeof startApiFixture>>,
  deviceId: string,
  code: 'door_open_fault' | 'trapped',
) {
  await f.elevatorEvent(deviceId, code)
  const res = await f.app.inject({
    url: `/api/alerts?device=${deviceId}&status=active`,
    headers: f.auth('admin'),
  })
  const alert = res.json().items.find((a: { type: string }) => a.type === code)
  if (!alert) throw new Error(`no ${code} alert on ${deviceId}`)
  return alert as { id: string }
}

describe('authentication', () => {
  it('refuses /api without a token or with a bad one (401), leaves health and docs open', async () => {
    const f = await startApiFixture()
    for (const url of ['/api/devices', '/api/alerts', '/api/me', '/api/webhooks']) {
      const none = await f.app.inject({ url })
      expect(none.statusCode).toBe(401)
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
      expect(none.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'a bearer token is required' } })
    }
    const bad = await f.app.inject({ url: '/api/devices', headers: { authorization: 'Bearer lsk_nope' } })
    expect(bad.statusCode).toBe(401)
    expect(bad.json().error.code).toBe('UNAUTHORIZED')
    const basic = await f.app.inject({
      url: '/api/devices',
      headers: { authorization: `Basic ${f.tokens.admin}` },
    })
    expect(basic.statusCode).toBe(401)
    // the query token is only for the stream
    const query = await f.app.inject({ url: `/api/devices?access_token=${f.tokens.admin}` })
    expect(query.statusCode).toBe(401)
    expect((await f.app.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await f.app.inject({ url: '/docs/json' })).statusCode).toBe(200)
  })

  it('authenticates a percent-encoded /api path like the plain one (the router decodes it)', async () => {
    const f = await startApiFixture()
    const encoded = await f.app.inject({ url: '/%61pi/me', headers: f.auth('tenantA') })
    expect(encoded.statusCode).toBe(200)
    expect(encoded.json()).toMatchObject({ role: 'tenant', tenantId: 'firm-a' })
    const none = await f.app.inject({ url: '/%61pi/devices' })
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
  })

  it('tells a token who it is', async () => {
    const f = await startApiFixture()
    const me = await f.app.inject({ url: '/api/me', headers: f.auth('tenantA') })
    expect(me.json()).toMatchObject({ role: 'tenant', tenantId: 'firm-a', name: 'firm A' })
  })

  it('stops accepting a token the moment it is revoked', async () => {
    const f = await startApiFixture()
    const created = await f.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: f.auth('admin'),
      payload: { name: 'temp', role: 'viewer' },
    })
    expect(created.statusCode).toBe(201)
    const { token, record } = created.json()
    expect(
      (await f.app.inject({ url: '/api/devices', headers: { authorization: `Bearer ${token}` } })).statusCode,
    ).toBe(200)
    const revoked = await f.app.inject({
      method: 'DELETE',
      url: `/api/tokens/${record.id}`,
      headers: f.auth('admin'),
    })
    expect(revoked.statusCode).toBe(204)
    expect(
      (await f.app.inject({ url: '/api/devices', headers: { authorization: `Bearer ${token}` } })).statusCode,
    ).toBe(401)
  })
})

describe('tenant isolation', () => {
  it('a tenant sees only its own devices; another tenant’s are 404', async () => {
    const f = await startApiFixture()
    const list = await f.app.inject({ url: '/api/devices', headers: f.auth('tenantA') })
    expect(list.json().items.map((d: { id: string }) => d.id)).toEqual(['el-a1'])
    expect(list.json().total).toBe(1)
    // asking for the other tenant's devices by filter yields nothing
    const other = await f.app.inject({ url: '/api/devices?tenant=firm-b', headers: f.auth('tenantA') })
    expect(other.json()).toMatchObject({ items: [], total: 0 })
    expect((await f.app.inject({ url: '/api/devices/el-a1', headers: f.auth('tenantA') })).statusCode).toBe(
      200,
    )
    const foreign = await f.app.inject({ url: '/api/devices/el-b1', headers: f.auth('tenantA') })
    const missing = await f.app.inject({ url: '/api/devices/el-zz', headers: f.auth('tenantA') })
    // same answer for "someone else's" and "does not exist": existence does not leak
    expect(foreign.statusCode).toBe(404)
    expect(missing.statusCode).toBe(404)
    expect(foreign.json().error.code).toBe(missing.json().error.code)
    for (const url of ['/api/devices/el-b1/inspections', '/api/sites/site-2', '/api/tenants/firm-b']) {
      expect((await f.app.inject({ url, headers: f.auth('tenantA') })).statusCode).toBe(404)
    }
    const tenants = await f.app.inject({ url: '/api/tenants', headers: f.auth('tenantA') })
    expect(tenants.json().items.map((t: { id: string }) => t.id)).toEqual(['firm-a'])
    const sites = await f.app.inject({ url: '/api/sites', headers: f.auth('tenantA') })
    expect(sites.json().items.map((s: { id: string }) => s.id)).toEqual(['site-1'])
  })

  it('a tenant cannot see or act on another tenant’s alert', async () => {
    const f = await startApiFixture()
    const alertB = await raise(f, 'el-b1', 'door_open_fault')
    const alertA = await raise(f, 'el-a1', 'door_open_fault')
    const listA = await f.app.inject({ url: '/api/alerts', headers: f.auth('tenantA') })
    expect(listA.json().items.map((a: { id: string }) => a.id)).toEqual([alertA.id])
    expect(listA.json().total).toBe(1)
    const filtered = await f.app.inject({ url: '/api/alerts?tenant=firm-b', headers: f.auth('tenantA') })
    expect(filtered.json()).toMatchObject({ items: [], total: 0 })
    const get = await f.app.inject({ url: `/api/alerts/${alertB.id}`, headers: f.auth('tenantA') })
    expect(get.statusCode).toBe(404)
    for (const action of ['acknowledge', 'comment', 'accept', 'resolve']) {
      const res = await f.app.inject({
        method: 'POST',
        url: `/api/alerts/${alertB.id}/${action}`,
        headers: f.auth('tenantA'),
        payload: { note: 'not mine' },
      })
      expect(res.statusCode).toBe(404)
    }
    // nothing happened to B's alert
    const b = await f.app.inject({ url: `/api/alerts/${alertB.id}`, headers: f.auth('tenantB') })
    expect(b.json().alert.status).toBe('open')
    expect(b.json().transitions.map((t: { transition: string }) => t.transition)).toEqual(['raised'])
    // and A works its own
    const ack = await f.app.inject({
      method: 'POST',
      url: `/api/alerts/${alertA.id}/acknowledge`,
      headers: f.auth('tenantA'),
    })
    expect(ack.statusCode).toBe(200)
    expect(ack.json()).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'firm A' })
  })

  it('a tenant’s maintenance records stay its own', async () => {
    const f = await startApiFixture()
    const now = Date.now()
    const body = (deviceId: string) => ({
      deviceId,
      startedAt: now - 3600_000,
      endedAt: now - 60_000,
      note: '半月保养',
    })
    const own = await f.app.inject({
      method: 'POST',
      url: '/api/maintenance',
      headers: f.auth('tenantA'),
      payload: body('el-a1'),
    })
    expect(own.statusCode).toBe(201)
    expect(own.json()).toMatchObject({ deviceId: 'el-a1', source: 'api', actor: 'firm A' })
    const foreign = await f.app.inject({
      method: 'POST',
      url: '/api/maintenance',
      headers: f.auth('tenantA'),
      payload: body('el-b1'),
    })
    expect(foreign.statusCode).toBe(404)
    const b = await f.app.inject({
      method: 'POST',
      url: '/api/maintenance',
      headers: f.auth('tenantB'),
      payload: body('el-b1'),
    })
    expect(b.statusCode).toBe(201)
    const listA = await f.app.inject({ url: '/api/maintenance', headers: f.auth('tenantA') })
    expect(listA.json().items.map((m: { deviceId: string }) => m.deviceId)).toEqual(['el-a1'])
    const all = await f.app.inject({ url: '/api/maintenance', headers: f.auth('duty') })
    expect(all.json().items).toHaveLength(2)
  })

  it('district-wide figures are not for tenants', async () => {
    const f = await startApiFixture()
    const url = '/api/compliance?from=2025-01-01&to=2025-12-31'
    expect((await f.app.inject({ url, headers: f.auth('tenantA') })).statusCode).toBe(403)
    expect((await f.app.inject({ url, headers: f.auth('viewer') })).statusCode).toBe(200)
    expect((await f.app.inject({ url: '/api/dead-letters', headers: f.auth('tenantA') })).statusCode).toBe(
      403,
    )
    expect((await f.app.inject({ url: '/api/accidents', headers: f.auth('tenantA') })).statusCode).toBe(403)
  })
})

describe('roles', () => {
  it('a viewer reads everything and can act on nothing (403)', async () => {
    const f = await startApiFixture()
    const alert = await raise(f, 'el-a1', 'door_open_fault')
    expect((await f.app.inject({ url: '/api/alerts', headers: f.auth('viewer') })).json().total).toBe(1)
    expect(
      (await f.app.inject({ url: `/api/alerts/${alert.id}`, headers: f.auth('viewer') })).statusCode,
    ).toBe(200)
    expect((await f.app.inject({ url: '/api/devices/el-b1', headers: f.auth('viewer') })).statusCode).toBe(
      200,
    )
    for (const action of ['acknowledge', 'dispatch', 'accept', 'arrive', 'release', 'resolve', 'comment']) {
      const res = await f.app.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/${action}`,
        headers: f.auth('viewer'),
        payload: { note: 'x' },
      })
      expect(res.statusCode, action).toBe(403)
      expect(res.json().error.code).toBe('FORBIDDEN')
    }
    const writes = [
      {
        method: 'POST' as const,
        url: '/api/maintenance',
        payload: { deviceId: 'el-a1', startedAt: 1e12, endedAt: 1e12 + 1 },
      },
      {
        method: 'POST' as const,
        url: '/api/sites',
        payload: { name: 'x', category: 'market', address: 'y' },
      },
      { method: 'POST' as const, url: '/api/tokens', payload: { name: 'x', role: 'admin' } },
      { method: 'POST' as const, url: '/api/devices/el-a1/secret' },
      {
        method: 'POST' as const,
        url: '/api/accidents',
        payload: { at: 1e12, siteId: 'site-1', fatal: false, description: 'x' },
      },
      { method: 'POST' as const, url: '/api/devices/sc-m1/verifications/open', payload: { verifier: 'x' } },
      { method: 'GET' as const, url: '/api/webhooks' },
      { method: 'GET' as const, url: '/api/tokens' },
    ]
    for (const req of writes) {
      const res = await f.app.inject({ ...req, headers: f.auth('viewer') })
      expect(res.statusCode, `${req.method} ${req.url}`).toBe(403)
    }
    const after = await f.app.inject({ url: `/api/alerts/${alert.id}`, headers: f.auth('viewer') })
    expect(after.json().alert.status).toBe('open')
  })

  it('a tenant takes the stages of a rescue dispatched to it, but does not dispatch or resolve', async () => {
    const f = await startApiFixture()
    const trapped = await raise(f, 'el-a1', 'trapped')
    const act = (role: 'tenantA' | 'duty', action: string, note?: string) =>
      f.app.inject({
        method: 'POST',
        url: `/api/alerts/${trapped.id}/${action}`,
        headers: f.auth(role),
        ...(note ? { payload: { note } } : {}),
      })
    const detail = await f.app.inject({ url: `/api/alerts/${trapped.id}`, headers: f.auth('tenantA') })
    expect(detail.json().alert.rescue.dispatchedTo).toBe('firm-a')
    expect((await act('tenantA', 'dispatch')).statusCode).toBe(403)
    expect((await act('tenantA', 'resolve')).statusCode).toBe(403)
    expect((await act('tenantA', 'accept')).json().rescue.acceptedAt).toEqual(expect.any(Number))
    expect((await act('tenantA', 'arrive')).json().rescue.arrivedAt).toEqual(expect.any(Number))
    const released = await act('tenantA', 'release', '乘客已安全救出')
    expect(released.json().rescue.releasedAt).toEqual(expect.any(Number))
    // the release closes a trapped alert: resolving it again is a conflict, not a success
    const again = await act('duty', 'resolve', '已核实')
    expect(again.statusCode).toBe(409)
    expect(again.json().error.code).toBe('INVALID_TRANSITION')
    expect((await act('duty', 'comment', '已电话回访')).statusCode).toBe(200)
    const history = await f.app.inject({ url: `/api/alerts/${trapped.id}`, headers: f.auth('admin') })
    expect(history.json().alert.status).toBe('resolved')
    const transitions = history.json().transitions as Array<{ transition: string; actor: string }>
    expect(transitions.map((t) => t.transition)).toEqual(
      expect.arrayContaining(['raised', 'accepted', 'arrived', 'released', 'commented']),
    )
    expect(transitions.find((t) => t.transition === 'accepted')?.actor).toBe('firm A')
    expect(transitions.find((t) => t.transition === 'commented')?.actor).toBe('值班员 王')
  })

  it('a tenant cannot take the stages of a rescue dispatched to another firm', async () => {
    const f = await startApiFixture()
    // firm B's token sees nothing of A's trapped alert at all
    const trapped = await raise(f, 'el-a1', 'trapped')
    const res = await f.app.inject({
      method: 'POST',
      url: `/api/alerts/${trapped.id}/accept`,
      headers: f.auth('tenantB'),
    })
    expect(res.statusCode).toBe(404)
  })

  it('only admins manage devices, sites, tenants, tokens and webhooks', async () => {
    const f = await startApiFixture()
    for (const role of ['duty', 'tenantA', 'viewer'] as const) {
      const res = await f.app.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: f.auth(role),
        payload: { name: '新公司', kind: 'maintenance_firm' },
      })
      expect(res.statusCode, role).toBe(403)
    }
    const ok = await f.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: f.auth('admin'),
      payload: { id: 'firm-c', name: '新公司', kind: 'maintenance_firm' },
    })
    expect(ok.statusCode).toBe(201)
    const dup = await f.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: f.auth('admin'),
      payload: { id: 'firm-c', name: '新公司', kind: 'maintenance_firm' },
    })
    expect(dup.statusCode).toBe(409)
    expect(dup.json().error.code).toBe('ALREADY_EXISTS')
  })
})
