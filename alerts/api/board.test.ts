/**
 * What the duty console's board and pages read: the counts of one summary call, several types or
 * severities in one list filter, alerts that carry their device's and site's names (list, detail,
 * actions, device page and stream), an elevator's maintenance due date, the rescue limits of the
 * compliance report, and the heartbeat interval announced by the stream.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { addDays, shanghaiDate } from '../../domain/dates.ts'
import { openSse } from './sse-client.ts'
import { type ApiFixture, startApiFixture, type Tokens } from './testing.ts'

type Summary = {
  open: number
  acknowledged: number
  critical: number
  rescuesInProgress: number
  rescuesLate: number
  overdue: number
}
type Field = { path: string; message: string; in?: string }

const NOTHING: Summary = {
  open: 0,
  acknowledged: 0,
  critical: 0,
  rescuesInProgress: 0,
  rescuesLate: 0,
  overdue: 0,
}
type ListedAlert = {
  id: string
  type: string
  severity: string
  deviceId: string
  deviceName: string | null
  siteName: string | null
}

async function get<T>(f: ApiFixture, role: keyof Tokens, url: string): Promise<T> {
  const res = await f.app.inject({ url, headers: f.auth(role) })
  expect({ url, status: res.statusCode }).toEqual({ url, status: 200 })
  return res.json() as T
}

const summary = (f: ApiFixture, role: keyof Tokens, query = '') =>
  get<Summary>(f, role, `/api/alerts/summary${query}`)

const list = async (f: ApiFixture, role: keyof Tokens, query: string) =>
  (await get<{ items: ListedAlert[]; total: number }>(f, role, `/api/alerts${query}`)).items

/** An old last maintenance on el-a1 (TSG T5002: overdue after 15 days) and the scan that sees it. */
async function overdueMaintenance(f: ApiFixture): Promise<void> {
  f.registry.recordMaintenance('el-a1', Date.parse('2020-01-01T00:00:00Z'))
  await f.engine.runScheduledScans()
}

describe('GET /api/alerts/summary', () => {
  it('counts active alerts by status, severity, rescues and overdue, under the board’s filters', async () => {
    const f = await startApiFixture()
    expect(await summary(f, 'duty')).toEqual(NOTHING)
    await f.elevatorEvent('el-a1', 'trapped')
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-b1', 'door_close_fault')
    // el-b1's inspection certificate ran out in 2000; el-a1's last maintenance was in 2020.
    await overdueMaintenance(f)
    const [doorB] = await list(f, 'duty', '?device=el-b1&type=door_close_fault')
    await f.app.inject({
      method: 'POST',
      url: `/api/alerts/${doorB?.id}/acknowledge`,
      headers: f.auth('duty'),
    })

    // What the list says, counted one list call at a time: the summary must agree with it.
    const total = async (query: string) =>
      (await get<{ total: number }>(f, 'duty', `/api/alerts?status=active&limit=1${query}`)).total
    const all = await summary(f, 'duty')
    expect(all).toEqual({
      open: (await total('')) - 1,
      acknowledged: 1,
      critical: await total('&severity=critical'),
      rescuesInProgress: await total('&type=trapped'),
      rescuesLate: 0,
      overdue: await total('&type=maintenance_overdue,inspection_overdue,verification_overdue'),
    })
    expect(all).toMatchObject({ critical: 1, rescuesInProgress: 1, overdue: 2 })

    expect(await summary(f, 'duty', '?site=site-2')).toMatchObject({
      open: 1,
      acknowledged: 1,
      rescuesInProgress: 0,
      overdue: 1,
    })
    expect(await summary(f, 'duty', '?siteCategory=market')).toMatchObject({
      rescuesInProgress: 1,
      overdue: 1,
    })
    expect(await summary(f, 'duty', '?tenant=firm-b')).toMatchObject({ critical: 0, overdue: 1 })
    expect(await summary(f, 'duty', '?type=trapped,door_open_fault')).toMatchObject({
      open: 2,
      rescuesInProgress: 1,
      overdue: 0,
    })
    expect(await summary(f, 'duty', '?severity=critical')).toMatchObject({
      open: 1,
      critical: 1,
      overdue: 0,
    })
    const bad = await f.app.inject({ url: '/api/alerts/summary?type=trapped,fire', headers: f.auth('duty') })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.fields).toEqual([
      { path: 'type', message: expect.stringContaining('fire'), in: 'querystring' },
    ])
  })

  it('counts only a tenant’s own alerts for a tenant, and nothing under another tenant’s filter', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-a1', 'trapped')
    await f.elevatorEvent('el-b1', 'trapped')
    await f.elevatorEvent('el-b1', 'door_open_fault')
    await overdueMaintenance(f)

    expect(await summary(f, 'viewer')).toMatchObject({ rescuesInProgress: 2, overdue: 2 })
    const mine = await summary(f, 'tenantA')
    expect(mine).toMatchObject({ rescuesInProgress: 1, critical: 1, overdue: 1 })
    // The tenant's own list agrees.
    expect(mine.open + mine.acknowledged).toBe((await list(f, 'tenantA', '?status=active')).length)
    expect(await summary(f, 'tenantB')).toMatchObject({ rescuesInProgress: 1, open: 3, overdue: 1 })
    expect(await summary(f, 'tenantA', '?tenant=firm-b')).toEqual(NOTHING)
  })

  it('counts a rescue late once it missed its accept deadline', async () => {
    const f = await startApiFixture({ env: { RESCUE_ACCEPT_LIMIT_S: '0.2' } })
    await f.elevatorEvent('el-a1', 'trapped')
    await expect.poll(async () => (await summary(f, 'duty')).rescuesLate, { timeout: 10_000 }).toBe(1)
    expect(await summary(f, 'duty')).toMatchObject({ rescuesInProgress: 1, critical: 1 })
    expect(await summary(f, 'duty', '?site=site-2')).toMatchObject({ rescuesLate: 0 })
  })
})

describe('the alert list for the board', () => {
  it('filters by several types or severities, repeated or comma-separated; 400 names the field', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-a1', 'trapped')
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-b1', 'door_close_fault')
    const types = async (query: string) => (await list(f, 'duty', query)).map((a) => a.type).sort()
    expect(await types('?type=trapped,door_close_fault')).toEqual(['door_close_fault', 'trapped'])
    expect(await types('?type=trapped&type=door_close_fault')).toEqual(['door_close_fault', 'trapped'])
    expect(await types('?type=trapped&type=door_open_fault,door_close_fault')).toHaveLength(3)
    expect(await types('?type=door_open_fault&severity=critical')).toEqual([])
    const severities = (await list(f, 'duty', '?severity=critical&severity=major')).map((a) => a.severity)
    expect(severities.length).toBeGreaterThan(0)
    expect(severities.every((s) => s === 'critical' || s === 'major')).toBe(true)
    expect(await list(f, 'duty', '?severity=info,warning')).toEqual(
      (await list(f, 'duty', '')).filter((a) => a.severity === 'info' || a.severity === 'warning'),
    )

    for (const query of ['?type=trapped,nonsense', '?type=', '?severity=critical&severity=urgent']) {
      const res = await f.app.inject({ url: `/api/alerts${query}`, headers: f.auth('duty') })
      expect({ query, status: res.statusCode }).toEqual({ query, status: 400 })
      const field = query.includes('severity') ? 'severity' : 'type'
      expect((res.json().error.fields as Field[]).map((x) => x.path)).toEqual([field])
    }
  })

  it('names each alert’s device and site in the list, the detail, an action’s answer and the device page', async () => {
    const f = await startApiFixture()
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-b1', 'door_open_fault')
    const [a1] = await list(f, 'tenantA', '')
    expect(a1).toMatchObject({ deviceId: 'el-a1', deviceName: '1号客梯', siteName: '汉正街市场' })
    // el-b1 has no name in the registry
    const [b1] = await list(f, 'duty', '?device=el-b1')
    expect(b1).toMatchObject({ deviceName: null, siteName: '宝丰路小学' })

    const detail = await get<{ alert: ListedAlert }>(f, 'viewer', `/api/alerts/${a1?.id}`)
    expect(detail.alert).toMatchObject({ deviceName: '1号客梯', siteName: '汉正街市场' })
    const acted = await f.app.inject({
      method: 'POST',
      url: `/api/alerts/${a1?.id}/acknowledge`,
      headers: f.auth('tenantA'),
    })
    expect(acted.json()).toMatchObject({
      status: 'acknowledged',
      deviceName: '1号客梯',
      siteName: '汉正街市场',
    })
    const device = await get<{ activeAlerts: ListedAlert[] }>(f, 'duty', '/api/devices/el-a1')
    expect(device.activeAlerts[0]).toMatchObject({ deviceName: '1号客梯', siteName: '汉正街市场' })
  })
})

describe('GET /api/devices/{id}: maintenance due date', () => {
  it('gives an elevator its due date from the last maintenance, and whether it is overdue', async () => {
    const f = await startApiFixture()
    type Detail = {
      device: { createdAt: number }
      flags: { maintenanceOverdue: boolean }
      maintenance: {
        lastMaintenanceAt: number | null
        intervalDays: number
        dueOn: string
        isOverdue: boolean
      }
    }
    // Never maintained: due 15 days after it was registered.
    const fresh = await get<Detail>(f, 'duty', '/api/devices/el-a1')
    expect(fresh.maintenance).toEqual({
      lastMaintenanceAt: null,
      intervalDays: 15,
      dueOn: addDays(shanghaiDate(fresh.device.createdAt), 15),
      isOverdue: false,
    })
    expect(fresh.flags.maintenanceOverdue).toBe(false)

    // 2020-01-01 08:00 in Shanghai: due on 2020-01-16, long past. The flag says so before any scan.
    const at = Date.parse('2020-01-01T00:00:00Z')
    f.registry.recordMaintenance('el-a1', at)
    const late = await get<Detail>(f, 'tenantA', '/api/devices/el-a1')
    expect(late.maintenance).toEqual({
      lastMaintenanceAt: at,
      intervalDays: 15,
      dueOn: '2020-01-16',
      isOverdue: true,
    })
    expect(late.flags.maintenanceOverdue).toBe(true)

    // Maintained today: due in 15 days, and the overdue alert resolves.
    await f.engine.runScheduledScans()
    const now = Date.now()
    const recorded = await f.app.inject({
      method: 'POST',
      url: '/api/maintenance',
      headers: f.auth('tenantA'),
      payload: { deviceId: 'el-a1', startedAt: now - 3_600_000, endedAt: now - 60_000 },
    })
    expect(recorded.statusCode).toBe(201)
    const done = await get<Detail>(f, 'tenantA', '/api/devices/el-a1')
    expect(done.maintenance).toMatchObject({ lastMaintenanceAt: now - 60_000, isOverdue: false })
    expect(done.maintenance.dueOn).toBe(addDays(shanghaiDate(now - 60_000), 15))
    expect(done.flags.maintenanceOverdue).toBe(false)

    const scale = await get<{ maintenance: unknown }>(f, 'duty', '/api/devices/sc-m1')
    expect(scale.maintenance).toBeNull()
  })
})

describe('GET /api/compliance: rescue limits', () => {
  it('carries the engine’s accept and arrive limits, and every figure the engine computed', async () => {
    const f = await startApiFixture({ env: { RESCUE_ACCEPT_LIMIT_S: '240', RESCUE_ARRIVE_LIMIT_S: '2700' } })
    const body = await get<{ rescueLimits: unknown }>(
      f,
      'viewer',
      '/api/compliance?from=2025-01-01&to=2025-12-31',
    )
    expect(body.rescueLimits).toEqual({ acceptS: 240, arriveS: 2700 })
    // The response schema keeps the whole report (generatedAt aside, taken at another instant).
    const report = f.engine.compliance({ from: '2025-01-01', to: '2025-12-31' })
    expect({ ...body, generatedAt: 0 }).toEqual({ ...report, generatedAt: 0 })
  })
})

describe('the alert stream for the console', () => {
  it('announces its heartbeat interval in ready, and names the device and site of each alert', async () => {
    const f = await startApiFixture({ env: { SSE_HEARTBEAT_MS: '4000' } })
    const base = await f.app.listen({ port: 0, host: '127.0.0.1' })
    const s = await openSse(`${base}/api/alerts/stream`, { authorization: `Bearer ${f.tokens.tenantA}` })
    onTestFinished(() => s.close())
    const ready = await s.waitFor((e) => e.event === 'ready')
    expect(JSON.parse(ready.data)).toEqual({ heartbeatMs: 4000 })

    await f.elevatorEvent('el-a1', 'door_open_fault')
    const event = await s.waitFor((e) => e.event === 'alert')
    const { change, alert } = JSON.parse(event.data)
    expect(alert).toMatchObject({ deviceId: 'el-a1', deviceName: '1号客梯', siteName: '汉正街市场' })
    // The change is the AlertChange message, as MQTT and InfluxDB get it: no names there.
    expect(change).not.toHaveProperty('deviceName')
    expect(change).toMatchObject({ alertId: alert.id, deviceId: 'el-a1', transition: 'raised' })
  })
})

describe('OpenAPI', () => {
  it('documents the summary and the named alert', async () => {
    const f = await startApiFixture()
    const doc = (await f.app.inject({ url: '/docs/json' })).json()
    expect(Object.keys(doc.components.schemas.AlertSummary.properties).sort()).toEqual([
      'acknowledged',
      'critical',
      'open',
      'overdue',
      'rescuesInProgress',
      'rescuesLate',
    ])
    expect(doc.components.schemas.Alert.properties.deviceName).toBeDefined()
    expect(doc.components.schemas.ComplianceReport.properties.rescueLimits).toBeDefined()
    expect(
      doc.paths['/api/alerts/summary'].get.parameters.map((p: { name: string }) => p.name).sort(),
    ).toEqual(['severity', 'site', 'siteCategory', 'tenant', 'type'])
  })
})
