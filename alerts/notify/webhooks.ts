/**
 * Webhook delivery: every alert change that a subscription wants is queued in SQLite (a synchronous
 * insert, so the alert pipeline never waits on a receiver), then sent by a small worker with bounded
 * concurrency, a timeout per request, and retries with exponential backoff and jitter until the
 * receiver takes it or the delivery runs out of attempts or age. Every attempt is logged.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { AlertChange } from '../../domain/alert-change.ts'
import { DomainError } from '../../domain/errors.ts'
import type { Logger } from '../../domain/logger.ts'
import type { NotifyConfig } from './config.ts'
import { type AlertMessage, acceptedBy, type MessageExtra, prepareRequest } from './formats.ts'
import {
  type Delivery,
  type DeliveryAttempt,
  type DeliveryFilter,
  type DueDelivery,
  openWebhookStore,
  publicSubscription,
  severityRank,
  type WebhookInput,
  type WebhookStore,
  type WebhookSubscription,
  type WebhookTarget,
} from './webhook-store.ts'

export type WebhookServiceDeps = {
  config: Pick<
    NotifyConfig,
    | 'WEBHOOK_TIMEOUT_MS'
    | 'WEBHOOK_MAX_ATTEMPTS'
    | 'WEBHOOK_MAX_AGE_MS'
    | 'WEBHOOK_BACKOFF_BASE_MS'
    | 'WEBHOOK_BACKOFF_MAX_MS'
    | 'WEBHOOK_CONCURRENCY'
    | 'WEBHOOK_PER_RECEIVER_CONCURRENCY'
    | 'WEBHOOK_LOG_RETENTION_DAYS'
  >
  logger: Logger
  metrics: Registry
  /** SQLite file of the queue and the log (DATA_DIR/notifications.db). */
  file: string
  /** Builds the message of a change at send time (registry facts, console link). */
  describe: (change: AlertChange, extra: MessageExtra) => AlertMessage
  fetch?: typeof fetch
  now?: () => number
  random?: () => number
}

export type WebhookService = ReturnType<typeof createWebhookService>

// Robots answer with a few hundred bytes; a receiver that streams megabytes is cut off here.
const MAX_RESPONSE_BYTES = 64 * 1024
const MAX_WAKE_MS = 60_000
const PRUNE_EVERY_MS = 3600_000
const DAY_MS = 86_400_000
const NO_EXTRA: MessageExtra = { title: null, arriveDeadline: null }

/** Does this subscription want this change? */
export function wants(target: WebhookTarget, change: AlertChange): boolean {
  if (!target.enabled) return false
  if (severityRank(change.severity) < severityRank(target.minSeverity)) return false
  if (target.types && !target.types.includes(change.type)) return false
  // `repeated` fires on every recurrence of a flapping condition: sent only when asked for by name.
  if (target.transitions ? !target.transitions.includes(change.transition) : change.transition === 'repeated')
    return false
  if (target.tenantId !== null && target.tenantId !== change.tenantId) return false
  return true
}

/** Wait before the attempt after `attempts` failures: base·2^(n-1), capped, with "equal jitter". */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)))
  return Math.round(exp / 2 + (random() * exp) / 2)
}

async function readLimited(response: Response): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size >= MAX_RESPONSE_BYTES) {
      await reader.cancel()
      break
    }
  }
  return Buffer.concat(chunks).toString('utf8')
}

function fetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`
  if (err instanceof Error) {
    const cause = err.cause
    if (cause instanceof Error) {
      const code = 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : ''
      return `${code}${cause.message}`.slice(0, 500)
    }
    return err.message.slice(0, 500)
  }
  return String(err).slice(0, 500)
}

export function createWebhookService(deps: WebhookServiceDeps) {
  const { config } = deps
  const log = deps.logger.child({ component: 'webhooks' })
  const now = deps.now ?? Date.now
  const random = deps.random ?? Math.random
  const fetchImpl = deps.fetch ?? fetch

  let store: WebhookStore | null = null
  let targets: WebhookTarget[] = []
  let stopped = false
  let pumpScheduled = false
  let wakeTimer: NodeJS.Timeout | undefined
  let pruneTimer: NodeJS.Timeout | undefined
  const inFlight = new Map<number, { controller: AbortController; webhookId: string }>()
  const sending = new Set<Promise<void>>()

  const deliveries = new Counter({
    name: 'webhook_deliveries_total',
    help: 'Webhook attempts by result: delivered, retry (failed, will retry), failed (given up)',
    labelNames: ['result'] as const,
    registers: [deps.metrics],
  })
  const attemptDuration = new Histogram({
    name: 'webhook_attempt_duration_seconds',
    help: 'Duration of webhook HTTP attempts',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [deps.metrics],
  })
  const enqueueErrors = new Counter({
    name: 'webhook_enqueue_errors_total',
    help: 'Alert changes that could not be queued for webhooks',
    registers: [deps.metrics],
  })
  new Gauge({
    name: 'webhook_queue_depth',
    help: 'Webhook deliveries pending (waiting to be sent or retried)',
    registers: [deps.metrics],
    collect() {
      this.set(store?.db.open ? store.pendingCount() : 0)
    },
  })

  function requireStore(): WebhookStore {
    if (!store) throw new DomainError('NOT_STARTED', 'webhooks are not started')
    return store
  }

  function reloadTargets(): void {
    targets = requireStore().activeTargets()
  }

  function schedulePump(): void {
    if (pumpScheduled || stopped || !store) return
    pumpScheduled = true
    setImmediate(() => {
      pumpScheduled = false
      pump()
    })
  }

  /** Receivers with as many requests in flight as they may have. */
  function busyReceivers(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const { webhookId } of inFlight.values()) counts.set(webhookId, (counts.get(webhookId) ?? 0) + 1)
    return counts
  }

  function pump(): void {
    if (stopped || !store) return
    clearTimeout(wakeTimer)
    wakeTimer = undefined
    try {
      const perReceiver = busyReceivers()
      const isBusy = (id: string) => (perReceiver.get(id) ?? 0) >= config.WEBHOOK_PER_RECEIVER_CONCURRENCY
      const busy = () => new Set([...perReceiver.keys()].filter(isBusy))
      const free = config.WEBHOOK_CONCURRENCY - inFlight.size
      if (free > 0) {
        // Several due rows may belong to one receiver: read a few more than the free slots.
        for (const delivery of store.due(free * 4, new Set(inFlight.keys()), busy())) {
          if (inFlight.size >= config.WEBHOOK_CONCURRENCY) break
          if (isBusy(delivery.webhookId)) continue
          perReceiver.set(delivery.webhookId, (perReceiver.get(delivery.webhookId) ?? 0) + 1)
          send(delivery)
        }
      }
      if (inFlight.size < config.WEBHOOK_CONCURRENCY) {
        // Receivers at their limit are woken by their own requests finishing, not by this timer.
        const next = store.nextDueAt(new Set(inFlight.keys()), busy())
        if (next !== null) {
          wakeTimer = setTimeout(pump, Math.min(MAX_WAKE_MS, Math.max(0, next - now())))
          wakeTimer.unref()
        }
      }
    } catch (err) {
      log.error({ err }, 'webhook queue unreadable; retrying in a minute')
      wakeTimer = setTimeout(pump, MAX_WAKE_MS)
      wakeTimer.unref()
    }
  }

  function send(delivery: DueDelivery): void {
    const db = requireStore()
    const target = db.getTarget(delivery.webhookId)
    if (!target || target.deleted || !target.enabled) {
      db.abandon(delivery.id, 'subscription deleted or disabled')
      deliveries.inc({ result: 'failed' })
      return
    }
    const controller = new AbortController()
    inFlight.set(delivery.id, { controller, webhookId: delivery.webhookId })
    const task = attempt(target, delivery, controller).finally(() => {
      inFlight.delete(delivery.id)
      sending.delete(task)
      schedulePump()
    })
    sending.add(task)
  }

  async function attempt(target: WebhookTarget, delivery: DueDelivery, controller: AbortController) {
    const at = now()
    const started = performance.now()
    let statusCode: number | null = null
    let error: string | null
    // A timer of our own rather than AbortSignal.any([.., AbortSignal.timeout()]): Node 20 holds
    // any()'s sources weakly, a garbage collection dropped the timeout, and a receiver that never
    // answered then kept its delivery slot for good.
    const timeout = setTimeout(
      () =>
        controller.abort(new DOMException(`timeout after ${config.WEBHOOK_TIMEOUT_MS} ms`, 'TimeoutError')),
      config.WEBHOOK_TIMEOUT_MS,
    )
    try {
      const message = deps.describe(delivery.change, delivery.extra)
      const request = prepareRequest(target, message, String(delivery.id), at)
      const response = await fetchImpl(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: controller.signal,
      })
      statusCode = response.status
      error = acceptedBy(target.format, response.status, await readLimited(response))
    } catch (err) {
      // Stopping: not an attempt. The delivery stays pending and is sent after the restart.
      if (stopped) return
      error = fetchError(err, config.WEBHOOK_TIMEOUT_MS)
    } finally {
      clearTimeout(timeout)
    }
    const durationMs = performance.now() - started
    attemptDuration.observe(durationMs / 1000)
    const attempts = delivery.attempts + 1
    const record = { at, statusCode, error, durationMs }
    const db = store
    if (!db?.db.open) return
    if (error === null) {
      db.recordAttempt(delivery, record, { status: 'delivered' })
      deliveries.inc({ result: 'delivered' })
      log.debug({ deliveryId: delivery.id, webhookId: target.id, attempts }, 'webhook delivered')
      return
    }
    const retryAt =
      now() + backoffMs(attempts, config.WEBHOOK_BACKOFF_BASE_MS, config.WEBHOOK_BACKOFF_MAX_MS, random)
    const context = { deliveryId: delivery.id, webhookId: target.id, attempt: attempts, statusCode, error }
    if (attempts >= config.WEBHOOK_MAX_ATTEMPTS || retryAt - delivery.createdAt > config.WEBHOOK_MAX_AGE_MS) {
      db.recordAttempt(delivery, record, { status: 'failed' })
      deliveries.inc({ result: 'failed' })
      log.error(context, 'webhook delivery given up')
    } else {
      db.recordAttempt(delivery, record, { status: 'pending', retryAt })
      deliveries.inc({ result: 'retry' })
      log.warn({ ...context, retryInMs: retryAt - now() }, 'webhook attempt failed; will retry')
    }
  }

  function prune(): void {
    try {
      const removed = store?.prune(now() - config.WEBHOOK_LOG_RETENTION_DAYS * DAY_MS) ?? 0
      if (removed > 0) log.info({ removed }, 'old webhook deliveries pruned')
    } catch (err) {
      log.warn({ err }, 'webhook log prune failed')
    }
  }

  return {
    /** Opens the queue and resumes pending deliveries. */
    start(): void {
      if (store) return
      stopped = false
      store = openWebhookStore(deps.file, now)
      reloadTargets()
      prune()
      pruneTimer = setInterval(prune, PRUNE_EVERY_MS)
      pruneTimer.unref()
      const pending = store.pendingCount()
      if (pending > 0) log.info({ pending }, 'resuming pending webhook deliveries')
      schedulePump()
    },

    /** Aborts requests in flight (they stay pending), waits for them, closes the queue. Safe twice. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(wakeTimer)
      clearInterval(pruneTimer)
      for (const { controller } of inFlight.values()) controller.abort()
      await Promise.allSettled([...sending])
      store?.close()
      store = null
    },

    /**
     * Queues this change for every subscription that wants it and returns at once: a synchronous
     * SQLite insert, never a network call. Never throws (the engine must not fail for a webhook).
     */
    enqueue(change: AlertChange, extra: MessageExtra = NO_EXTRA): number {
      if (!store) return 0
      try {
        const matching = targets.filter((t) => wants(t, change))
        if (matching.length === 0) return 0
        store.enqueue(matching, change, extra)
        schedulePump()
        return matching.length
      } catch (err) {
        enqueueErrors.inc()
        log.error({ err, alertId: change.alertId }, 'could not queue webhook deliveries')
        return 0
      }
    },

    /** Queues a change for one subscription whatever its filters (a test message). */
    enqueueTo(webhookId: string, change: AlertChange, extra: MessageExtra = NO_EXTRA): number {
      const db = requireStore()
      const target = db.getTarget(webhookId)
      if (!target || target.deleted) throw new DomainError('NOT_FOUND', `no webhook ${webhookId}`)
      const [id] = db.enqueue([target], change, extra)
      schedulePump()
      return id ?? 0
    },

    createSubscription(input: WebhookInput): WebhookSubscription {
      const created = requireStore().createSubscription(input)
      reloadTargets()
      return created
    },

    listSubscriptions(): WebhookSubscription[] {
      return requireStore().activeTargets().map(publicSubscription)
    },

    getSubscription(id: string): WebhookSubscription | null {
      const target = requireStore().getTarget(id)
      return target && !target.deleted ? publicSubscription(target) : null
    },

    deleteSubscription(id: string): void {
      requireStore().deleteSubscription(id)
      reloadTargets()
    },

    listDeliveries(filter: DeliveryFilter): Delivery[] {
      return requireStore().listDeliveries(filter)
    },

    getDelivery(id: number): (Delivery & { attemptLog: DeliveryAttempt[] }) | null {
      return requireStore().getDelivery(id)
    },

    queueDepth(): number {
      return store ? store.pendingCount() : 0
    },

    /** Requests being sent right now. */
    inFlightCount(): number {
      return inFlight.size
    },
  }
}
