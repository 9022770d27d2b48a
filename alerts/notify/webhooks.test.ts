import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Registry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { AlertChange } from '../../domain/alert-change.ts'
import { silentLogger } from '../../domain/logger.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import { freePort } from '../../test/support/influxd.ts'
import { NotifyConfigSchema } from './config.ts'
import { genericSignature, type MessageExtra, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './formats.ts'
import { alertChange, startReceiver } from './testing.ts'
import { backoffMs, createWebhookService, type WebhookServiceDeps, wants } from './webhooks.ts'

const context: DeviceContext = {
  device: {
    id: 'el-1',
    kind: 'elevator',
    siteId: 'site-1',
    tenantId: 'firm-a',
    name: '3号客梯',
    statusPeriodS: 5,
    inService: true,
    createdAt: 1,
    registrationCode: '31104201002021000001',
    ratedSpeedMps: 1.75,
    floors: 18,
    lastInspectionOn: null,
    nextInspectionDue: null,
    lastMaintenanceAt: null,
  },
  site: {
    id: 'site-1',
    name: '汉正街市场',
    category: 'market',
    address: '武汉市硚口区汉正街1号',
    operatorTenantId: null,
    createdAt: 1,
  },
  tenant: {
    id: 'firm-a',
    name: '武汉安达电梯维保有限公司',
    kind: 'maintenance_firm',
    contact: null,
    createdAt: 1,
  },
}

function setup(overrides: Partial<Record<string, string>> = {}, deps: Partial<WebhookServiceDeps> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'webhooks-'))
  const config = NotifyConfigSchema.parse({
    WEBHOOK_BACKOFF_BASE_MS: '100',
    WEBHOOK_BACKOFF_MAX_MS: '400',
    WEBHOOK_TIMEOUT_MS: '1000',
    ...overrides,
  })
  const metrics = new Registry()
  const make = (registry = new Registry()) =>
    createWebhookService({
      config,
      logger: silentLogger(),
      metrics: registry,
      file: join(dir, 'notifications.db'),
      describe: (change: AlertChange, extra: MessageExtra) => ({
        change,
        extra,
        context: change.deviceId === 'el-1' ? context : null,
        link: `https://console.example/alerts/${change.alertId}`,
      }),
      ...deps,
    })
  const service = make(metrics)
  onTestFinished(async () => {
    await service.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { service, metrics, dir, make }
}

async function until<T>(fn: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('webhook subscriptions', () => {
  it('filters by severity, type, transition and tenant', () => {
    const base = {
      id: 'wh-1',
      name: 'x',
      url: 'http://x',
      format: 'generic' as const,
      minSeverity: 'major' as const,
      types: null,
      transitions: null,
      tenantId: null,
      hasSecret: false,
      enabled: true,
      createdAt: 1,
      secret: null,
    }
    expect(wants(base, alertChange({ severity: 'critical' }))).toBe(true)
    expect(wants(base, alertChange({ severity: 'warning' }))).toBe(false)
    expect(wants(base, alertChange({ transition: 'repeated' }))).toBe(false)
    expect(wants({ ...base, transitions: ['repeated'] }, alertChange({ transition: 'repeated' }))).toBe(true)
    expect(wants({ ...base, types: ['offline'] }, alertChange({ type: 'trapped' }))).toBe(false)
    expect(wants({ ...base, tenantId: 'firm-b' }, alertChange({ tenantId: 'firm-a' }))).toBe(false)
    expect(wants({ ...base, tenantId: 'firm-a' }, alertChange({ tenantId: 'firm-a' }))).toBe(true)
    expect(wants({ ...base, enabled: false }, alertChange())).toBe(false)
  })

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500)
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000)
    expect(backoffMs(3, 1000, 60_000, () => 1)).toBe(4000)
    expect(backoffMs(30, 1000, 60_000, () => 1)).toBe(60_000)
  })

  it('refuses a bad subscription with the failing fields', () => {
    const { service } = setup()
    service.start()
    expect(() => service.createSubscription({ name: '', url: 'ftp://x', format: 'generic' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/name.*url|url.*name/s),
      }),
    )
  })
})

describe('webhook delivery to a real receiver', () => {
  it('posts the generic JSON body, signed with HMAC-SHA256', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    const { service } = setup()
    service.start()
    const sub = service.createSubscription({
      name: 'ops',
      url: receiver.url,
      format: 'generic',
      secret: 'topsecret-key',
      minSeverity: 'warning',
    })
    expect(sub).not.toHaveProperty('secret')
    expect(sub.hasSecret).toBe(true)
    const change = alertChange()
    const deadline = change.at + 1800_000
    expect(service.enqueue(change, { title: '平层关人', arriveDeadline: deadline })).toBe(1)
    const [req] = await receiver.waitFor(1)
    if (!req) throw new Error('no request')
    const body = JSON.parse(req.body)
    expect(body).toMatchObject({
      event: 'alert.raised',
      change,
      device: { id: 'el-1', code: '31104201002021000001' },
      site: { name: '汉正街市场' },
      tenant: { name: '武汉安达电梯维保有限公司' },
      title: '平层关人',
      arriveDeadline: deadline,
      link: `https://console.example/alerts/${change.alertId}`,
    })
    const ts = Number(req.headers[TIMESTAMP_HEADER])
    expect(req.headers[SIGNATURE_HEADER]).toBe(
      `sha256=${createHmac('sha256', 'topsecret-key').update(`${ts}.${req.body}`).digest('hex')}`,
    )
    expect(genericSignature('other', ts, req.body)).not.toBe(req.headers[SIGNATURE_HEADER])
    const [delivery] = await until(() => {
      const list = service.listDeliveries({ limit: 10 })
      return list[0]?.status === 'delivered' ? list : null
    })
    expect(delivery).toMatchObject({ alertId: change.alertId, attempts: 1, lastError: null })
    expect(service.getDelivery(delivery?.id ?? 0)?.attemptLog).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, error: null }),
    ])
  })

  it('sends WeCom markdown and retries on a robot errcode', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    // WeCom answers 200 with a non-zero errcode when it refuses (45009: over the rate limit).
    receiver.respond = () =>
      receiver.requests.length === 1
        ? { status: 200, body: '{"errcode":45009,"errmsg":"api freq out of limit"}' }
        : { status: 200, body: '{"errcode":0,"errmsg":"ok"}' }
    const { service } = setup()
    service.start()
    service.createSubscription({ name: 'duty room', url: receiver.url, format: 'wecom' })
    service.enqueue(alertChange(), {
      title: '非平层关人',
      arriveDeadline: Date.parse('2025-03-01T06:35:09Z'),
    })
    const [first, second] = await receiver.waitFor(2)
    expect(first?.body).toBe(second?.body)
    const body = JSON.parse(first?.body ?? '')
    expect(body.msgtype).toBe('markdown')
    expect(Object.keys(body.markdown)).toEqual(['content'])
    const content: string = body.markdown.content
    expect(content).toContain('紧急')
    expect(content).toContain('非平层关人')
    expect(content).toContain('**到场时限**:2025-03-01 14:35:09')
    expect(content).toContain('汉正街市场')
    expect(content).toContain('武汉市硚口区汉正街1号')
    expect(content).toContain('武汉安达电梯维保有限公司')
    // 06:05:09 UTC is 14:05:09 in Asia/Shanghai
    expect(content).toContain('2025-03-01 14:05:09')
    expect(content).toMatch(/\[查看告警\]\(https:\/\/console\.example\/alerts\/al-/)
    const [delivery] = await until(() => {
      const list = service.listDeliveries({ limit: 10 })
      return list[0]?.status === 'delivered' ? list : null
    })
    const log = service.getDelivery(delivery?.id ?? 0)?.attemptLog ?? []
    expect(log.map((a) => a.error)).toEqual(['errcode 45009: api freq out of limit', null])
  })

  it('signs DingTalk robot requests with timestamp and sign', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    const { service } = setup()
    service.start()
    const secret = 'SEC0123456789abcdef'
    service.createSubscription({
      name: 'dingtalk',
      url: `${receiver.url}?access_token=abc`,
      format: 'dingtalk',
      secret,
    })
    service.enqueue(alertChange({ severity: 'major', type: 'door_close_fault', transition: 'escalated' }))
    const [req] = await receiver.waitFor(1)
    const url = new URL(req?.url ?? '', 'http://x')
    expect(url.searchParams.get('access_token')).toBe('abc')
    const timestamp = url.searchParams.get('timestamp') ?? ''
    expect(Math.abs(Number(timestamp) - Date.now())).toBeLessThan(60_000)
    const expected = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64')
    expect(url.searchParams.get('sign')).toBe(expected)
    const body = JSON.parse(req?.body ?? '')
    expect(body.msgtype).toBe('markdown')
    expect(body.markdown.title).toBe('【严重】关门故障 · 已升级')
    expect(body.markdown.text).toContain('汉正街市场')
    expect(body.markdown.text).toContain('维保单位')
  })

  it('retries with backoff while the receiver is down, logs every attempt, then delivers', async () => {
    const port = await freePort()
    const { service } = setup({
      WEBHOOK_BACKOFF_BASE_MS: '150',
      WEBHOOK_BACKOFF_MAX_MS: '1200',
      WEBHOOK_MAX_ATTEMPTS: '100000',
    })
    service.start()
    service.createSubscription({ name: 'down', url: `http://127.0.0.1:${port}/hook`, format: 'generic' })
    const change = alertChange()
    service.enqueue(change)
    const failing = await until(() => {
      const d = service.listDeliveries({ limit: 1 })[0]
      return d && d.attempts >= 3 ? d : null
    })
    expect(failing.status).toBe('pending')
    const log = service.getDelivery(failing.id)?.attemptLog ?? []
    expect(log.every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? ''))).toBe(true)
    // Equal jitter: wait n is at least half of base·2^(n-1), so the gaps grow.
    const gaps = log.slice(1).map((a, i) => a.at - (log[i]?.at ?? 0))
    expect(gaps[0]).toBeGreaterThanOrEqual(75)
    expect(gaps[1]).toBeGreaterThanOrEqual(150)
    const receiver = await startReceiver(port)
    onTestFinished(() => receiver.close())
    const [req] = await receiver.waitFor(1, 15_000)
    expect(JSON.parse(req?.body ?? '').change.alertId).toBe(change.alertId)
    const done = await until(() => {
      const d = service.getDelivery(failing.id)
      return d?.status === 'delivered' ? d : null
    })
    expect(done.attemptLog.length).toBeGreaterThanOrEqual(4)
    expect(done.attemptLog.at(-1)).toMatchObject({ statusCode: 200, error: null })
  })

  it('gives up after the last attempt and marks the delivery failed', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    receiver.respond = () => ({ status: 503, body: 'busy' })
    const { service } = setup({ WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_BACKOFF_BASE_MS: '20' })
    service.start()
    service.createSubscription({ name: 'busy', url: receiver.url })
    service.enqueue(alertChange())
    const failed = await until(() => service.listDeliveries({ limit: 1, status: 'failed' })[0])
    expect(failed).toMatchObject({ attempts: 3, lastError: 'HTTP 503' })
    expect(receiver.requests).toHaveLength(3)
  })

  it('counts a receiver that does not answer in time as a failed attempt', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    receiver.respond = () => ({ status: 200, body: '{}', delayMs: 5_000 })
    const { service } = setup({ WEBHOOK_TIMEOUT_MS: '200', WEBHOOK_BACKOFF_BASE_MS: '10000' })
    service.start()
    service.createSubscription({ name: 'slow', url: receiver.url })
    service.enqueue(alertChange())
    const d = await until(() => service.listDeliveries({ limit: 1 }).find((x) => x.attempts === 1))
    expect(d).toMatchObject({ status: 'pending', lastError: 'timeout after 200 ms' })
  })

  it('still times out a receiver that does not answer when a garbage collection runs mid-request', async () => {
    // Node 20 holds the sources of AbortSignal.any() weakly: a collection used to drop the timeout,
    // and a receiver that never answers then held its delivery slot forever (CI failed on it once).
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    receiver.respond = () => ({ status: 200, body: '{}', delayMs: 10_000 })
    const { service } = setup({ WEBHOOK_TIMEOUT_MS: '500', WEBHOOK_BACKOFF_BASE_MS: '10000' })
    service.start()
    service.createSubscription({ name: 'never answers', url: receiver.url })
    service.enqueue(alertChange())
    await receiver.waitFor(1)
    gc()
    const d = await until(() => service.listDeliveries({ limit: 1 }).find((x) => x.attempts === 1), 5_000)
    expect(d).toMatchObject({ status: 'pending', lastError: 'timeout after 500 ms' })
  })

  it('queues and returns before the receiver has answered', async () => {
    const receiver = await startReceiver()
    onTestFinished(() => receiver.close())
    receiver.respond = () => ({ status: 200, body: '{}', delayMs: 500 })
    const { service } = setup()
    service.start()
    service.createSubscription({ name: 'slow', url: receiver.url })
    const queued = service.enqueue(alertChange())
    // enqueue has returned: the delivery is stored, and nothing has been sent yet.
    expect(queued).toBe(1)
    expect(receiver.requests).toHaveLength(0)
    expect(service.listDeliveries({ limit: 1 })[0]?.status).toBe('pending')
    await receiver.waitFor(1)
    expect(service.listDeliveries({ limit: 1 })[0]?.status).toBe('pending')
    await until(() => service.listDeliveries({ limit: 1 })[0]?.status === 'delivered')
  })

  it('resumes pending deliveries after a restart', async () => {
    const port = await freePort()
    const { service, make } = setup({
      WEBHOOK_BACKOFF_BASE_MS: '100',
      WEBHOOK_BACKOFF_MAX_MS: '200',
      WEBHOOK_MAX_ATTEMPTS: '100000',
    })
    service.start()
    service.createSubscription({ name: 'later', url: `http://127.0.0.1:${port}/hook` })
    const change = alertChange()
    service.enqueue(change)
    await until(() => service.listDeliveries({ limit: 1 })[0]?.attempts)
    await service.stop()

    const receiver = await startReceiver(port)
    onTestFinished(() => receiver.close())
    const again = make()
    onTestFinished(() => again.stop())
    again.start()
    const [req] = await receiver.waitFor(1)
    expect(JSON.parse(req?.body ?? '').change.alertId).toBe(change.alertId)
    await until(() => again.listDeliveries({ limit: 1 })[0]?.status === 'delivered')
  })

  it('gives up pending deliveries of a deleted subscription and keeps the log', async () => {
    const port = await freePort()
    const { service } = setup({ WEBHOOK_BACKOFF_BASE_MS: '5000' })
    service.start()
    const sub = service.createSubscription({ name: 'gone', url: `http://127.0.0.1:${port}/hook` })
    service.enqueue(alertChange())
    await until(() => service.listDeliveries({ limit: 1 })[0]?.attempts)
    service.deleteSubscription(sub.id)
    expect(service.listSubscriptions()).toEqual([])
    expect(service.listDeliveries({ limit: 1, webhookId: sub.id })[0]).toMatchObject({
      status: 'failed',
      lastError: 'subscription deleted',
    })
    expect(() => service.deleteSubscription(sub.id)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }))
  })

  it('reports deliveries and queue depth as metrics', async () => {
    const port = await freePort()
    const { service, metrics } = setup({ WEBHOOK_BACKOFF_BASE_MS: '5000' })
    service.start()
    service.createSubscription({ name: 'down', url: `http://127.0.0.1:${port}/hook` })
    service.enqueue(alertChange())
    service.enqueue(alertChange())
    await until(() => service.listDeliveries({ limit: 2 }).every((d) => d.attempts === 1))
    const text = await metrics.metrics()
    expect(text).toMatch(/webhook_queue_depth 2/)
    expect(text).toMatch(/webhook_deliveries_total\{result="retry"\} 2/)
  })

  it('keeps one receiver that hangs from holding up the others, and each receiver’s messages in order', async () => {
    const hanging = await startReceiver()
    onTestFinished(() => hanging.close())
    hanging.respond = () => ({ status: 200, body: '{}', delayMs: 10_000 })
    const good = await startReceiver()
    onTestFinished(() => good.close())
    const { service } = setup({ WEBHOOK_CONCURRENCY: '4', WEBHOOK_TIMEOUT_MS: '20000' })
    service.start()
    service.createSubscription({ name: 'hangs', url: hanging.url })
    service.createSubscription({ name: 'good', url: good.url })
    const changes = Array.from({ length: 6 }, (_, i) =>
      alertChange({ transition: i % 2 ? 'dispatched' : 'raised' }),
    )
    for (const change of changes) service.enqueue(change)
    const received = await good.waitFor(6)
    expect(received.map((r) => JSON.parse(r.body).change.alertId)).toEqual(changes.map((c) => c.alertId))
    // one request at a time to the receiver that hangs
    await until(() => service.listDeliveries({ limit: 20, status: 'delivered' }).length === 6)
    expect(service.inFlightCount()).toBe(1)
    expect(hanging.requests).toHaveLength(1)
  })
})
