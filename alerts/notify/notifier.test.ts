import { createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { AlertChangeSchema } from '../../domain/alert-change.ts'
import { freePort } from '../../test/support/influxd.ts'
import { openSse } from '../api/sse-client.ts'
import { startApiFixture } from '../api/testing.ts'
import { startReceiver } from './testing.ts'

/** A TCP server that accepts connections and never answers: the worst receiver there is. */
async function blackHole(): Promise<{ url: string }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return { url: `http://127.0.0.1:${port}/hook` }
}

async function until<T>(fn: () => T | null | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value) return value
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('notifier', () => {
  it('does not hold the alert pipeline for a receiver that hangs or is down; retries, logs, then delivers', async () => {
    const hanging = await blackHole()
    const downPort = await freePort()
    const f = await startApiFixture({
      // retries every 200-400 ms, and never given up within the test (however slow the machine is)
      env: {
        WEBHOOK_TIMEOUT_MS: '3000',
        WEBHOOK_BACKOFF_BASE_MS: '200',
        WEBHOOK_BACKOFF_MAX_MS: '400',
        WEBHOOK_MAX_ATTEMPTS: '100000',
      },
    })
    const base = await f.app.listen({ port: 0, host: '127.0.0.1' })
    const sse = await openSse(`${base}/api/alerts/stream?access_token=${f.tokens.duty}`)
    onTestFinished(() => sse.close())
    await sse.waitFor((e) => e.event === 'ready')
    const { webhooks } = f.notifier
    const hang = webhooks.createSubscription({ name: 'hangs', url: hanging.url, minSeverity: 'info' })
    const down = webhooks.createSubscription({
      name: 'down',
      url: `http://127.0.0.1:${downPort}/hook`,
      format: 'wecom',
      minSeverity: 'info',
    })

    // The engine's change listeners have all run when handle() resolves.
    await f.elevatorEvent('el-a1', 'trapped')
    const list = await f.app.inject({ url: '/api/alerts?device=el-a1', headers: f.auth('duty') })
    expect(list.json().items).toHaveLength(1)
    await sse.waitFor((e) => e.event === 'alert' && JSON.parse(e.data).change.transition === 'raised')
    // ...while not one delivery to the hanging receiver has finished: the pipeline did not wait for it.
    const toHang = webhooks.listDeliveries({ limit: 10, webhookId: hang.id })
    expect(toHang.length).toBe(2) // raised and dispatched
    expect(toHang.every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true)

    // The down receiver's attempts fail, are logged with their error, and back off.
    const failing = await until(() => {
      const d = webhooks.listDeliveries({ limit: 10, webhookId: down.id })
      return d.length === 2 && d.every((x) => x.attempts >= 2) ? d : null
    })
    const attempts = webhooks.getDelivery(failing[0]?.id ?? 0)?.attemptLog ?? []
    expect(attempts.every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? ''))).toBe(true)

    // More alerts go through at once meanwhile.
    await f.elevatorEvent('el-b1', 'door_open_fault')
    await sse.waitFor((e) => e.event === 'alert' && JSON.parse(e.data).change.deviceId === 'el-b1')

    // The hanging receiver's first attempt times out and is logged as such.
    await until(() => webhooks.listDeliveries({ limit: 10, webhookId: hang.id }).find((d) => d.attempts >= 1))
    const timedOut = webhooks.listDeliveries({ limit: 10, webhookId: hang.id }).find((d) => d.attempts >= 1)
    expect(timedOut?.lastError).toBe('timeout after 3000 ms')

    // The receiver comes up: everything queued for it arrives.
    const receiver = await startReceiver(downPort)
    onTestFinished(() => receiver.close())
    const received = await receiver.waitFor(3, 15_000)
    const titles = received.map((r) => JSON.parse(r.body).markdown.content as string)
    expect(titles.some((t) => t.includes('平层关人') && t.includes('已派单'))).toBe(true)
    await until(() =>
      webhooks.listDeliveries({ limit: 10, webhookId: down.id }).every((d) => d.status === 'delivered'),
    )
    // Several waits of up to 15 s each: on a loaded CI machine the default 60 s was once too short.
  }, 120_000)

  it('publishes every change on MQTT alerts/{severity}/{type}/{device} and survives a failing publish', async () => {
    const published: Array<{ topic: string; payload: string }> = []
    let fail = true
    const f = await startApiFixture({
      notifier: {
        publish: async (topic, payload) => {
          if (fail) {
            fail = false
            throw new Error('broker gone')
          }
          published.push({ topic, payload })
        },
      },
    })
    await f.elevatorEvent('el-a1', 'door_open_fault')
    await f.elevatorEvent('el-b1', 'trapped')
    await until(() => published.length >= 2)
    expect(published.map((p) => p.topic)).toEqual([
      'alerts/critical/trapped/el-b1',
      'alerts/critical/trapped/el-b1',
    ])
    const changes = published.map((p) => AlertChangeSchema.parse(JSON.parse(p.payload)))
    expect(changes.map((c) => c.transition)).toEqual(['raised', 'dispatched'])
    expect(await f.metrics.metrics()).toMatch(/mqtt_alert_publish_total\{result="error"\} 1/)
    // the failed publish did not keep the alert from the API
    const list = await f.app.inject({ url: '/api/alerts', headers: f.auth('duty') })
    expect(list.json().total).toBe(2)
  })
})
