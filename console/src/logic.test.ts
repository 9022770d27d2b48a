import { describe, expect, it } from 'vitest'
import { ALERT_TYPES, type Alert, type RescueTimeline } from '../../alerts/types.ts'
import { formatClock, formatDateTime, formatDuration, shanghaiDate } from './format.ts'
import { createTranslator, DICTIONARIES } from './i18n.ts'
import {
  alertsQuery,
  availableActions,
  compareAlerts,
  deviceLabel,
  filterFromQuery,
  filterToQuery,
  hashForPath,
  matchesFilter,
  nextStep,
  OVERDUE_TYPES,
  parseRoute,
  periodFromQuery,
  periodOf,
  routeHash,
  summaryQuery,
} from './logic.ts'
import { idleTimeoutOf, parseSse } from './stream.ts'

const T0 = Date.parse('2025-03-01T06:05:09Z') // 14:05:09 in Shanghai

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: 'a1',
    deviceId: 'el-1',
    deviceKind: 'elevator',
    siteId: 'site-1',
    tenantId: 'firm-a',
    siteCategory: 'market',
    type: 'door_close_fault',
    severity: 'warning',
    status: 'open',
    count: 1,
    title: { zh: '关门故障', en: 'Door fails to close' },
    details: {},
    openedAt: T0,
    lastSeenAt: T0,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    resolutionNote: null,
    escalated: false,
    rescue: null,
    ...over,
  }
}

function rescue(over: Partial<RescueTimeline> = {}): RescueTimeline {
  return {
    alarmAt: T0,
    dispatchedAt: null,
    dispatchedTo: null,
    acceptedAt: null,
    arrivedAt: null,
    releasedAt: null,
    acceptDeadline: T0 + 300_000,
    arriveDeadline: T0 + 1_800_000,
    acceptMissed: false,
    arriveMissed: false,
    ...over,
  }
}

describe('routes', () => {
  it('parses hash routes with their query, and falls back to the board', () => {
    expect(parseRoute('#/alerts/abc%2F1?x=1')).toMatchObject({ name: 'alert', id: 'abc/1' })
    expect(parseRoute('#/devices/el-a1')).toMatchObject({ name: 'device', id: 'el-a1' })
    expect(parseRoute('#/devices?kind=scale')).toMatchObject({ name: 'devices' })
    expect(parseRoute('#/compliance?period=year').query.get('period')).toBe('year')
    expect(parseRoute('#/board?severity=critical').query.get('severity')).toBe('critical')
    expect(parseRoute('')).toMatchObject({ name: 'board' })
    expect(parseRoute('#/nonsense')).toMatchObject({ name: 'board' })
    expect(parseRoute('#/alerts/%E0%A4%A')).toMatchObject({ name: 'board' })
  })

  it('maps the webhook links /alerts/:id to the hash route', () => {
    expect(hashForPath('/alerts/6f1c')).toBe('#/alerts/6f1c')
    expect(hashForPath('/devices/el-a1/')).toBe('#/devices/el-a1')
    expect(hashForPath('/')).toBeNull()
    expect(hashForPath('/main.js')).toBeNull()
  })

  it('keeps filters in the URL, dropping empty ones and unknown values', () => {
    expect(routeHash('/board', { severity: 'critical', type: undefined })).toBe('#/board?severity=critical')
    const filter = filterFromQuery(
      new URLSearchParams('severity=bogus&type=trapped&site=site-1&status=resolved'),
      {
        types: ALERT_TYPES,
      },
    )
    expect(filter).toEqual({
      status: 'resolved',
      severities: [],
      types: ['trapped'],
      site: 'site-1',
      siteCategory: undefined,
      tenant: undefined,
    })
    expect(filterFromQuery(new URLSearchParams('type=nope'), { types: ALERT_TYPES }).types).toEqual([])
  })

  it('takes several types and severities, comma-separated or repeated, and writes them back as the API reads them', () => {
    const query = new URLSearchParams(
      'type=maintenance_overdue,nope,inspection_overdue&type=verification_overdue,maintenance_overdue&severity=critical,major',
    )
    const filter = filterFromQuery(query, { types: ALERT_TYPES })
    expect(filter.types).toEqual(['maintenance_overdue', 'inspection_overdue', 'verification_overdue'])
    expect(filter.types).toEqual([...OVERDUE_TYPES])
    expect(filter.severities).toEqual(['critical', 'major'])
    expect(filterToQuery(filter)).toMatchObject({
      type: 'maintenance_overdue,inspection_overdue,verification_overdue',
      severity: 'critical,major',
    })
    // The summary's query is the list's without status and paging.
    expect(summaryQuery({ ...filter, status: 'resolved', site: 'site-1' })).toEqual({
      type: 'maintenance_overdue,inspection_overdue,verification_overdue',
      severity: 'critical,major',
      site: 'site-1',
    })
    expect(alertsQuery({ ...filter, status: 'resolved' }, 200)).toMatchObject({
      status: 'resolved',
      limit: '200',
      severity: 'critical,major',
    })
    expect(alertsQuery(filterFromQuery(new URLSearchParams(''), { types: ALERT_TYPES }), 50)).toEqual({
      status: 'active',
      limit: '50',
    })
  })
})

describe('board', () => {
  it('puts active trapped-passenger alerts first, then severity, then the newest', () => {
    const items = [
      alert({ id: 'old-critical', severity: 'critical', openedAt: T0 }),
      alert({ id: 'warning', severity: 'warning', openedAt: T0 + 5000 }),
      alert({
        id: 'trapped',
        type: 'trapped',
        severity: 'critical',
        openedAt: T0 - 60_000,
        rescue: rescue(),
      }),
      alert({ id: 'new-critical', severity: 'critical', openedAt: T0 + 1000 }),
      alert({ id: 'resolved-trapped', type: 'trapped', severity: 'critical', status: 'resolved' }),
    ]
    expect(items.sort(compareAlerts).map((a) => a.id)).toEqual([
      'trapped',
      'new-critical',
      'old-critical',
      'resolved-trapped',
      'warning',
    ])
  })

  it('matches a changed alert against the filter as the API would', () => {
    const base = { status: 'active' as const, severities: [], types: [] }
    expect(matchesFilter(alert(), base)).toBe(true)
    expect(matchesFilter(alert({ status: 'resolved' }), base)).toBe(false)
    expect(matchesFilter(alert({ status: 'resolved' }), { ...base, status: 'resolved' })).toBe(true)
    expect(matchesFilter(alert(), { ...base, severities: ['critical'] })).toBe(false)
    expect(matchesFilter(alert(), { ...base, severities: ['critical', 'warning'] })).toBe(true)
    expect(matchesFilter(alert(), { ...base, types: ['trapped', 'door_close_fault'] })).toBe(true)
    expect(matchesFilter(alert(), { ...base, types: [...OVERDUE_TYPES] })).toBe(false)
    expect(
      matchesFilter(alert(), { ...base, siteCategory: 'market', tenant: 'firm-a', site: 'site-1' }),
    ).toBe(true)
    expect(matchesFilter(alert(), { ...base, tenant: 'firm-b' })).toBe(false)
  })
})

describe('names', () => {
  it('shows a device by its name with its id, or by its id alone', () => {
    expect(deviceLabel({ deviceId: 'el-a1', deviceName: '1号客梯' })).toBe('1号客梯 (el-a1)')
    expect(deviceLabel({ deviceId: 'el-b1', deviceName: null })).toBe('el-b1')
  })
})

describe('next steps', () => {
  const duty = { role: 'duty_officer' as const, tenantId: null }
  const firmA = { role: 'tenant' as const, tenantId: 'firm-a' }
  const firmB = { role: 'tenant' as const, tenantId: 'firm-b' }
  const viewer = { role: 'viewer' as const, tenantId: null }

  it('follows the rescue workflow, one stage at a time', () => {
    const trapped = (r: Partial<RescueTimeline>, over: Partial<Alert> = {}) =>
      alert({ type: 'trapped', severity: 'critical', rescue: rescue(r), ...over })
    expect(availableActions(trapped({}), duty)).toEqual(['acknowledge', 'dispatch', 'resolve', 'comment'])
    expect(nextStep(availableActions(trapped({}), duty))).toBe('acknowledge')
    const dispatched = { dispatchedAt: T0, dispatchedTo: 'firm-a' }
    expect(availableActions(trapped(dispatched, { status: 'acknowledged' }), duty)).toEqual([
      'accept',
      'resolve',
      'comment',
    ])
    expect(availableActions(trapped({ ...dispatched, acceptedAt: T0 }), firmA)).toEqual([
      'acknowledge',
      'arrive',
      'comment',
    ])
    expect(
      nextStep(
        availableActions(
          trapped({ ...dispatched, acceptedAt: T0, arrivedAt: T0 }, { status: 'acknowledged' }),
          firmA,
        ),
      ),
    ).toBe('release')
  })

  it('gives a firm only the stages of rescues dispatched to it, and a viewer nothing', () => {
    const open = alert({ type: 'trapped', severity: 'critical', rescue: rescue() })
    expect(availableActions(open, firmA)).toEqual(['acknowledge', 'comment'])
    const toA = alert({ type: 'trapped', rescue: rescue({ dispatchedAt: T0, dispatchedTo: 'firm-a' }) })
    expect(availableActions(toA, firmB)).toEqual(['acknowledge', 'comment'])
    expect(availableActions(toA, viewer)).toEqual([])
    expect(availableActions(alert({ status: 'resolved' }), duty)).toEqual(['comment'])
    expect(availableActions(alert({ status: 'resolved' }), viewer)).toEqual([])
  })
})

describe('compliance periods', () => {
  it('computes months, quarters and years as inclusive calendar dates', () => {
    expect(periodOf('month', '2024-02-10')).toEqual({ kind: 'month', from: '2024-02-01', to: '2024-02-29' })
    expect(periodOf('quarter', '2025-11-30')).toEqual({
      kind: 'quarter',
      from: '2025-10-01',
      to: '2025-12-31',
    })
    expect(periodOf('year', '2025-06-01')).toEqual({ kind: 'year', from: '2025-01-01', to: '2025-12-31' })
  })

  it('reads the period from the URL, defaulting to the current month', () => {
    const q = (text: string) => new URLSearchParams(text)
    expect(periodFromQuery(q(''), '2025-03-15')).toEqual({
      kind: 'month',
      from: '2025-03-01',
      to: '2025-03-31',
    })
    expect(periodFromQuery(q('period=quarter&from=2025-05-01'), '2025-03-15').to).toBe('2025-06-30')
    expect(periodFromQuery(q('period=custom&from=2025-01-05&to=2025-01-20'), '2025-03-15')).toEqual({
      kind: 'custom',
      from: '2025-01-05',
      to: '2025-01-20',
    })
    expect(periodFromQuery(q('period=custom&from=2025-02-05&to=2025-01-20'), '2025-03-15').kind).toBe('month')
  })
})

describe('times in Asia/Shanghai', () => {
  it('formats instants on the Shanghai clock', () => {
    expect(formatDateTime(T0)).toBe('2025-03-01 14:05:09')
    expect(shanghaiDate(Date.parse('2025-02-28T16:30:00Z'))).toBe('2025-03-01')
    expect(formatClock(299_400)).toBe('04:59')
    expect(formatClock(3_725_000)).toBe('1:02:05')
    expect(formatDuration(192_000, createTranslator('zh-CN'))).toBe('3 分 12 秒')
    expect(formatDuration(192_000, createTranslator('en'))).toBe('3 min 12 s')
  })
})

describe('dictionaries', () => {
  it('has every label in both languages with the same placeholders', () => {
    const zh = DICTIONARIES['zh-CN']
    const en = DICTIONARIES.en
    const holes = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    for (const key of Object.keys(zh) as Array<keyof typeof zh>) {
      expect(en[key], key).not.toBe('')
      expect(holes(en[key]), key).toEqual(holes(zh[key]))
      expect(/[\u3400-\u9fff]/.test(en[key]), `${key}: ${en[key]}`).toBe(false)
    }
  })
})

describe('server-sent events', () => {
  it('splits messages across chunks, keeping ids, events and multi-line data', () => {
    const seen: Array<{ event: string; data: string; id: string | null }> = []
    let rest = parseSse('retry: 3000\n\n: ping\n\nid: b.1\nevent: alert\ndata: {"a":', (m) => seen.push(m))
    rest = parseSse(`${rest}1}\n\nevent: ready\r\nid: b.2\r\ndata: {}\r\n\r\ndata: x\ndata: y\n\n`, (m) =>
      seen.push(m),
    )
    expect(rest).toBe('')
    expect(seen).toEqual([
      { event: 'alert', data: '{"a":1}', id: 'b.1' },
      { event: 'ready', data: '{}', id: 'b.2' },
      { event: 'message', data: 'x\ny', id: null },
    ])
  })

  it('takes three announced heartbeats of silence as a dead connection, else the fallback', () => {
    expect(idleTimeoutOf('{"heartbeatMs":15000}', 45_000)).toBe(45_000)
    expect(idleTimeoutOf('{"heartbeatMs":2000}', 45_000)).toBe(6000)
    expect(idleTimeoutOf('{"heartbeatMs":60000}', 45_000)).toBe(180_000)
    for (const data of ['{}', '', 'not json', '{"heartbeatMs":-1}', '{"heartbeatMs":"15000"}', 'null'])
      expect(idleTimeoutOf(data, 45_000)).toBe(45_000)
  })
})
