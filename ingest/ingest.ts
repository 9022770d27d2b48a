/**
 * Ingest: every valid reading into InfluxDB exactly once, through outages and crashes.
 *
 *   accept(message) -> decode -> invalid: dead-letter store (fsync'd), then resolve
 *                             -> valid:   line into the open batch + onReading(reading)
 *   batch -> InfluxDB (204)                      -> resolve every message of the batch
 *         -> refused / unreachable -> spool (fsync) -> resolve; the replayer sends it later, in order
 *
 * The caller acknowledges the MQTT message (PUBACK) only when accept resolves, so a message is
 * acknowledged once its line is in InfluxDB or in the fsync'd spool. Many messages share one write and
 * one fsync (group commit): while the write slots are busy, sealed batches queue up and are sent
 * together when a slot frees. A redelivered message is the same point (same device, measurement and
 * time) and overwrites itself: see line-protocol.ts and docs/storage.md.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Registry as PromRegistry } from 'prom-client'
import type { ActiveAlertsSnapshot, AlertChange } from '../domain/alert-change.ts'
import { DomainError, isDomainError } from '../domain/errors.ts'
import type { Logger } from '../domain/logger.ts'
import type { InboundMessage, MessageSink, ReadingListener } from '../domain/pipeline.ts'
import { createProcessSampler, type ProcessSampler } from '../domain/process-figures.ts'
import { decodeMessage } from '../domain/reading.ts'
import { parseTopic } from '../domain/topics.ts'
import type { Registry } from '../registry/registry.ts'
import type { IngestConfig } from './config.ts'
import {
  type DeadLetterInput,
  type DeadLetterReason,
  type DeadLetterStore,
  deadLetterFile,
  openDeadLetterStore,
} from './dead-letters.ts'
import { createInfluxWriter, INFLUX_ERROR_CODES, type InfluxWriter } from './influx-writer.ts'
import { LineBatch } from './line-batch.ts'
import {
  activeAlertsLines,
  alertChangeLine,
  createLineEncoder,
  type HealthField,
  healthLine,
} from './line-protocol.ts'
import { createIngestMetrics, createIntervalStats } from './metrics.ts'
import { createSpool, type SpoolDepth } from './spool.ts'

export type IngestDeps = {
  config: IngestConfig
  logger: Logger
  /** Tags come from the registry's (cached) device context. */
  registry: Pick<Registry, 'getDeviceContext'>
  metrics: PromRegistry
  /** Every validated reading, in arrival order (the alerts service, in memory). */
  onReading?: ReadingListener
  now?: () => number
  /**
   * The InfluxDB side; by default built from config (INFLUX_URL unset: none, readings wait in the
   * spool). Unit tests pass a fake.
   */
  influx?: Pick<InfluxWriter, 'write' | 'probe' | 'createDatabase' | 'target'>
}

export type IngestStats = {
  received: number
  /** Lines InfluxDB accepted, direct or replayed. */
  written: number
  /** Lines that went to the spool. */
  spooled: number
  deadLetters: number
  deadLettersByReason: Record<string, number>
  spoolDepthLines: number
  spoolDepthBytes: number
  /** Age of the oldest spooled line, seconds (0 when the spool is empty). */
  spoolAgeS: number
  /** Lines taken but not yet in InfluxDB or the spool. */
  pendingLines: number
  influx: 'up' | 'down' | 'not_configured'
}

export type Ingest = ReturnType<typeof createIngest>

type Batch = {
  lines: LineBatch
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

type PendingDeadLetter = { entry: DeadLetterInput; resolve: () => void; reject: (err: unknown) => void }

const LOG_EVERY_MS = 60_000

// Ingest's own health points travel with the readings but are not counted as written or spooled.
const HEALTH_PREFIX = 'platform_'
function dataLines(lines: Lines): number {
  if (lines instanceof LineBatch) return lines.counted
  let n = 0
  for (const line of lines) if (!line.startsWith(HEALTH_PREFIX)) n++
  return n
}

/** A batch as taken (bytes), or lines read back from a refused batch or the spool. */
type Lines = LineBatch | readonly string[]
const asArray = (lines: Lines): readonly string[] => (lines instanceof LineBatch ? lines.toLines() : lines)

function newBatch(): Batch {
  let resolve: () => void = () => undefined
  let reject: (err: unknown) => void = () => undefined
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Callers may not be waiting yet; an unobserved rejection must not crash the process.
  promise.catch(() => undefined)
  return { lines: new LineBatch(), promise, resolve, reject }
}

function sleep(ms: number, signal: { wake: (() => void) | null }): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.wake = null
      resolve()
    }
    signal.wake = done
  })
}

export function createIngest(deps: IngestDeps) {
  const { config, registry, onReading } = deps
  const log = deps.logger.child({ component: 'ingest' })
  const now = deps.now ?? Date.now
  const instance = `${hostname()}:${process.pid}`
  const encoder = createLineEncoder()

  const spool = createSpool({
    dir: config.INGEST_SPOOL_DIR ?? join(config.DATA_DIR, 'ingest', 'spool'),
    maxBytes: config.INGEST_SPOOL_MAX_BYTES,
    segmentBytes: config.INGEST_SPOOL_SEGMENT_BYTES,
    logger: log.child({ part: 'spool' }),
    now,
  })
  let writer: Pick<InfluxWriter, 'write' | 'probe' | 'createDatabase' | 'target'> | null = null
  let deadLetterStore: DeadLetterStore | null = null
  let isInfluxUp = false
  let isStarted = false
  let isStopping = false
  let stopping: Promise<void> | null = null

  const counts = { received: 0, written: 0, spooled: 0, deadLetters: 0 }
  const deadLettersByReason: Record<string, number> = {}
  const interval = createIntervalStats()
  const metrics = createIngestMetrics(deps.metrics, {
    spoolDepth: () => spool.depth(),
    isInfluxUp: () => isInfluxUp,
    now,
  })

  // ---- dead letters: group commit, one transaction per tick ----
  let pendingDead: PendingDeadLetter[] = []
  let isDeadFlushScheduled = false
  const lastWarnAt = new Map<string, { at: number; suppressed: number }>()

  function flushDeadLetters(): void {
    isDeadFlushScheduled = false
    const batch = pendingDead
    pendingDead = []
    if (batch.length === 0) return
    try {
      if (deadLetterStore === null) throw new DomainError('INGEST_STOPPED', 'dead-letter store is closed')
      deadLetterStore.add(batch.map((p) => p.entry))
      for (const p of batch) p.resolve()
    } catch (err) {
      log.error({ err, count: batch.length }, 'dead-letter store write failed: messages stay unacknowledged')
      for (const p of batch) p.reject(err)
    }
  }

  function deadLetter(entry: DeadLetterInput): Promise<void> {
    counts.deadLetters++
    deadLettersByReason[entry.reason] = (deadLettersByReason[entry.reason] ?? 0) + 1
    metrics.deadLetters.inc({ reason: entry.reason })
    warnRateLimited(entry.reason, {
      reason: entry.reason,
      topic: entry.topic,
      deviceId: entry.deviceId,
      detail: entry.message,
    })
    return new Promise<void>((resolve, reject) => {
      pendingDead.push({ entry, resolve, reject })
      if (!isDeadFlushScheduled) {
        isDeadFlushScheduled = true
        setImmediate(flushDeadLetters)
      }
    })
  }

  function warnRateLimited(key: string, fields: Record<string, unknown>): void {
    const t = now()
    const last = lastWarnAt.get(key)
    if (last !== undefined && t - last.at < 10_000) {
      last.suppressed++
      return
    }
    lastWarnAt.set(key, { at: t, suppressed: 0 })
    log.warn(
      { ...fields, suppressedSinceLast: last?.suppressed ?? 0 },
      'message refused: kept as a dead letter',
    )
  }

  // ---- InfluxDB state ----
  let lastDownLogAt = 0
  function markDown(err: unknown): void {
    const t = now()
    if (isInfluxUp || t - lastDownLogAt >= LOG_EVERY_MS) {
      lastDownLogAt = t
      const code = isDomainError(err) ? err.code : 'INFLUX_ERROR'
      log.error(
        { code, err: err instanceof Error ? err.message : String(err), spool: spool.depth() },
        'InfluxDB is not taking writes: readings go to the spool until it does',
      )
    }
    isInfluxUp = false
  }

  function markUp(): void {
    if (!isInfluxUp) {
      log.info({ target: writer?.target, spool: spool.depth() }, 'InfluxDB takes writes')
      lastDownLogAt = 0
      // A direct write got through: the replayer need not sit out its backoff.
      backoffWake.wake?.()
    }
    isInfluxUp = true
  }

  /**
   * Writes lines; a batch InfluxDB refuses as bad data (400/413) is halved until the offending lines
   * are found, and those become dead letters. Returns the lines still to spool, with the reason.
   */
  async function deliver(lines: Lines): Promise<{ unsent: Lines; error: unknown }> {
    if (writer === null) return { unsent: lines, error: null }
    const started = performance.now()
    try {
      await writer.write(lines)
      const ms = performance.now() - started
      metrics.writeSeconds.observe({ outcome: 'ok' }, ms / 1000)
      metrics.batchSize.observe(lines.length)
      const data = dataLines(lines)
      metrics.written.inc(data)
      counts.written += data
      interval.recordWrite(lines.length, ms)
      return { unsent: [], error: null }
    } catch (err) {
      metrics.writeSeconds.observe({ outcome: 'error' }, (performance.now() - started) / 1000)
      const isDataRefused =
        isDomainError(err, INFLUX_ERROR_CODES.rejected) || isDomainError(err, INFLUX_ERROR_CODES.tooLarge)
      if (!isDataRefused) return { unsent: lines, error: err }
      const each = asArray(lines)
      const [line] = each
      if (each.length === 1 && line !== undefined) {
        await deadLetter(refusedLine(line, err))
        return { unsent: [], error: null }
      }
      const half = Math.ceil(each.length / 2)
      const first = await deliver(each.slice(0, half))
      if (first.error !== null)
        return { unsent: [...asArray(first.unsent), ...each.slice(half)], error: first.error }
      return deliver(each.slice(half))
    }
  }

  function refusedLine(line: string, err: unknown): DeadLetterInput {
    const measurement = /^((?:[^,\s\\]|\\.)+)/.exec(line)?.[1] ?? ''
    const device = /,device_id=((?:[^,\s\\]|\\.)+)/.exec(line)?.[1] ?? null
    return {
      at: now(),
      topic: `influx:${measurement}`,
      deviceId: device,
      reason: 'influx_rejected',
      message: err instanceof Error ? err.message : String(err),
      payload: Buffer.from(line, 'utf8'),
    }
  }

  async function toSpool(lines: Lines): Promise<void> {
    await spool.append(lines)
    const data = dataLines(lines)
    metrics.spooled.inc(data)
    counts.spooled += data
    replayWake.wake?.()
  }

  // ---- batching (group commit) ----
  let open: Batch | null = null
  let lingerTimer: NodeJS.Timeout | null = null
  const ready: Batch[] = []
  let inFlight = 0
  let pendingLines = 0
  const unsettled = new Set<Promise<void>>()

  function add(line: string): Promise<void> {
    if (open === null) {
      open = newBatch()
      lingerTimer = setTimeout(onLinger, config.INGEST_FLUSH_INTERVAL_MS)
    }
    const batch = open
    batch.lines.push(line, !line.startsWith(HEALTH_PREFIX))
    pendingLines++
    if (batch.lines.length >= config.INGEST_BATCH_SIZE) {
      seal()
      pump()
    }
    return batch.promise
  }

  function onLinger(): void {
    lingerTimer = null
    seal()
    pump()
  }

  function seal(): void {
    if (lingerTimer !== null) {
      clearTimeout(lingerTimer)
      lingerTimer = null
    }
    if (open !== null && open.lines.length > 0) ready.push(open)
    open = null
  }

  /** Takes sealed batches up to one request's worth, so that batches queued behind busy slots go together. */
  function takeReady(maxLines: number): Batch[] {
    const taken: Batch[] = []
    let lines = 0
    while (ready.length > 0) {
      const next = ready[0]
      if (next === undefined || (taken.length > 0 && lines + next.lines.length > maxLines)) break
      ready.shift()
      taken.push(next)
      lines += next.lines.length
    }
    return taken
  }

  function pump(): void {
    while (ready.length > 0) {
      if (isInfluxUp) {
        if (inFlight >= config.INGEST_MAX_CONCURRENT_WRITES) return
        dispatch(takeReady(config.INGEST_BATCH_SIZE), true)
      } else {
        // InfluxDB is down or not configured: straight to the spool, one fsync for all that waits.
        dispatch(takeReady(Number.POSITIVE_INFINITY), false)
      }
    }
  }

  function dispatch(batches: Batch[], isDirect: boolean): void {
    const lines =
      batches.length === 1 && batches[0] ? batches[0].lines : LineBatch.concat(batches.map((b) => b.lines))
    if (isDirect) inFlight++
    const run = (async () => {
      let unsent: Lines = lines
      if (isDirect) {
        const result = await deliver(lines)
        unsent = result.unsent
        if (result.error === null) markUp()
        else markDown(result.error)
      }
      if (unsent.length > 0) await toSpool(unsent)
    })()
    const settled = run.then(
      () => {
        for (const b of batches) b.resolve()
      },
      (err: unknown) => {
        log.error(
          { err, lines: lines.length },
          'batch neither in InfluxDB nor in the spool: left unacknowledged',
        )
        for (const b of batches) b.reject(err)
      },
    )
    const tracked = settled.finally(() => {
      pendingLines -= lines.length
      if (isDirect) inFlight--
      unsettled.delete(tracked)
      pump()
    })
    unsettled.add(tracked)
  }

  // ---- replay ----
  // Wakes the replayer when it waits for work (new spool records) or, on stop, from its backoff.
  const replayWake: { wake: (() => void) | null } = { wake: null }
  const backoffWake: { wake: (() => void) | null } = { wake: null }
  let replayLoop: Promise<void> | null = null

  async function replay(): Promise<void> {
    let delay = config.INGEST_RETRY_MIN_MS
    while (!isStopping) {
      if (writer === null || spool.isEmpty()) {
        await sleep(LOG_EVERY_MS, replayWake)
        continue
      }
      let error: unknown = null
      try {
        const chunk = await spool.peek(config.INGEST_REPLAY_BATCH_SIZE)
        if (chunk === null) continue
        const result = await deliver(chunk.lines)
        error = result.error
        if (error === null) {
          markUp()
          await spool.commit(chunk)
          metrics.replayed.inc(dataLines(chunk.lines))
          delay = config.INGEST_RETRY_MIN_MS
          // New batches can go straight to InfluxDB again: send whatever waits.
          pump()
          continue
        }
      } catch (err) {
        error = err
        log.error({ err }, 'spool replay failed')
      }
      markDown(error)
      await sleep(delay, backoffWake)
      delay = Math.min(delay * 2, config.INGEST_RETRY_MAX_MS)
    }
  }

  // ---- platform health ----
  let healthTimer: NodeJS.Timeout | null = null
  let processSampler: ProcessSampler | null = null

  /** This process's headroom (`platform_process`): in the all-in-one platform, the whole platform's. */
  function processLine(t: number): string | null {
    if (processSampler === null) return null
    const p = processSampler.take()
    const fields: HealthField[] = [
      { name: 'event_loop_utilization', kind: 'float', value: p.eventLoopUtilization },
      { name: 'event_loop_delay_p99_ms', kind: 'float', value: p.eventLoopDelayP99Ms },
      { name: 'rss_mib', kind: 'float', value: p.rssMiB },
      { name: 'heap_used_mib', kind: 'float', value: p.heapUsedMiB },
    ]
    if (p.openFiles !== null) fields.push({ name: 'open_files', kind: 'int', value: p.openFiles })
    if (p.openFilesLimit !== null)
      fields.push({ name: 'open_files_limit', kind: 'int', value: p.openFilesLimit })
    return healthLine('platform_process', { instance }, fields, t)
  }

  function writeHealth(): void {
    const t = now()
    const depth: SpoolDepth = spool.depth()
    const figures = interval.take()
    const fields: HealthField[] = [
      { name: 'received', kind: 'int', value: counts.received },
      { name: 'written', kind: 'int', value: counts.written },
      { name: 'spooled', kind: 'int', value: counts.spooled },
      { name: 'spool_depth_lines', kind: 'int', value: depth.lines },
      {
        name: 'spool_age_s',
        kind: 'float',
        value: depth.oldestAt === null ? 0 : (t - depth.oldestAt) / 1000,
      },
      { name: 'dead_letters', kind: 'int', value: counts.deadLetters },
      { name: 'batch_size_avg', kind: 'float', value: figures.batchSizeAvg },
      { name: 'write_latency_p50_ms', kind: 'float', value: figures.writeLatencyP50Ms },
      { name: 'write_latency_p99_ms', kind: 'float', value: figures.writeLatencyP99Ms },
      { name: 'influx_up', kind: 'int', value: isInfluxUp ? 1 : 0 },
    ]
    const lines: string[] = []
    const main = healthLine('platform_ingest', { instance }, fields, t)
    if (main !== null) lines.push(main)
    const processPoint = processLine(t)
    if (processPoint !== null) lines.push(processPoint)
    for (const [reason, n] of Object.entries(deadLettersByReason)) {
      const line = healthLine(
        'platform_dead_letters',
        { instance, reason },
        [{ name: 'count', kind: 'int', value: n }],
        t,
      )
      if (line !== null) lines.push(line)
    }
    for (const line of lines) {
      add(line).catch((err: unknown) => log.warn({ err }, 'health point not stored'))
    }
  }

  function requireRunning(): void {
    if (!isStarted || isStopping) {
      throw new DomainError('INGEST_STOPPED', 'ingest is not running: the message stays unacknowledged')
    }
  }

  // Not async: a valid reading returns its batch's promise, shared by every message of the batch, so
  // the hot path allocates no promise per message (they would live as long as the write takes).
  function take(message: InboundMessage): Promise<void> {
    requireRunning()
    counts.received++
    const result = decodeMessage(message.topic, message.payload, message.receivedAt, message.clientId)
    if (!result.ok) {
      const parsed = parseTopic(message.topic)
      metrics.received.inc(parsed?.direction === 'uplink' ? parsed.type : 'unknown')
      const { rejection } = result
      return deadLetter({
        at: message.receivedAt,
        topic: message.topic,
        deviceId: rejection.deviceId,
        reason: rejection.reason,
        message: rejection.message,
        payload: message.payload,
      })
    }
    const { reading } = result
    metrics.received.inc(reading.type)
    const context = registry.getDeviceContext(reading.deviceId)
    if (context === null) {
      return deadLetter({
        at: message.receivedAt,
        topic: message.topic,
        deviceId: reading.deviceId,
        reason: 'unknown_device',
        message: `device ${reading.deviceId} is not in the registry`,
        payload: message.payload,
      })
    }
    const stored = add(encoder.reading(reading, context))
    if (onReading === undefined) return stored
    let listened: Promise<void> | null = null
    try {
      const result = onReading(reading)
      if (result instanceof Promise) listened = result
    } catch (err) {
      log.error({ err, deviceId: reading.deviceId }, 'reading listener failed')
    }
    if (listened === null) return stored
    return Promise.all([
      stored,
      listened.catch((err: unknown) =>
        log.error({ err, deviceId: reading.deviceId }, 'reading listener failed'),
      ),
    ]).then(() => undefined)
  }

  const accept: MessageSink = (message) => {
    try {
      return take(message)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async function stopInternal(): Promise<void> {
    isStopping = true
    if (healthTimer !== null) clearInterval(healthTimer)
    healthTimer = null
    processSampler?.stop()
    processSampler = null
    // Everything taken goes to InfluxDB or the spool before the files close.
    seal()
    pump()
    const drained = (async () => {
      while (unsettled.size > 0 || ready.length > 0) {
        await Promise.allSettled([...unsettled])
        pump()
      }
    })()
    // A full spool with InfluxDB down would wait for space forever: past the deadline the spool closes,
    // and what it could not take stays unacknowledged (the broker delivers it again).
    const deadlineMs = config.INFLUX_TIMEOUT_MS + 5000
    let deadline: NodeJS.Timeout | null = null
    const isDrained = await Promise.race([
      drained.then(() => true),
      new Promise<boolean>((resolve) => {
        deadline = setTimeout(() => resolve(false), deadlineMs)
      }),
    ])
    if (deadline !== null) clearTimeout(deadline)
    if (!isDrained) {
      log.error(
        { pendingLines, spool: spool.depth() },
        'stop: spool full and InfluxDB down; the rest stays unacknowledged',
      )
    }
    replayWake.wake?.()
    backoffWake.wake?.()
    await replayLoop
    flushDeadLetters()
    await spool.close()
    if (!isDrained) await drained
    deadLetterStore?.close()
    deadLetterStore = null
    isStarted = false
    log.info({ ...stats() }, 'ingest stopped')
  }

  function stats(): IngestStats {
    const depth = spool.depth()
    return {
      ...counts,
      deadLettersByReason: { ...deadLettersByReason },
      spoolDepthLines: depth.lines,
      spoolDepthBytes: depth.bytes,
      spoolAgeS: depth.oldestAt === null ? 0 : Math.max(0, (now() - depth.oldestAt) / 1000),
      pendingLines,
      influx: writer === null ? 'not_configured' : isInfluxUp ? 'up' : 'down',
    }
  }

  function requireDeadLetters(): DeadLetterStore {
    if (deadLetterStore === null) throw new DomainError('INGEST_STOPPED', 'ingest is not running')
    return deadLetterStore
  }

  /** The dead-letter store of this ingest (open between start and stop). */
  const deadLetters: DeadLetterStore = {
    add: (entries) => requireDeadLetters().add(entries),
    list: (query) => requireDeadLetters().list(query),
    countByReason: () => requireDeadLetters().countByReason(),
    count: () => requireDeadLetters().count(),
    close: () => undefined,
  }

  return {
    async start(): Promise<void> {
      if (isStarted) return
      isStopping = false
      stopping = null
      deadLetterStore = openDeadLetterStore(deadLetterFile(config.DATA_DIR), {
        maxRows: config.DEAD_LETTER_MAX_ROWS,
        maxPayloadBytes: config.DEAD_LETTER_MAX_PAYLOAD_BYTES,
      })
      await spool.open()
      if (deps.influx === undefined && config.INFLUX_URL === undefined) {
        log.warn(
          { spool: spool.depth() },
          'INFLUX_URL is not set: readings are kept in the spool and written once it is set',
        )
      } else {
        writer = deps.influx ?? createInfluxWriter({ ...config, INFLUX_URL: config.INFLUX_URL ?? '' })
        if (config.INFLUX_CREATE_DB) {
          await writer.createDatabase().catch((err: unknown) => log.error({ err }, 'CREATE DATABASE failed'))
        }
        try {
          await writer.probe()
          markUp()
        } catch (err) {
          markDown(err)
        }
      }
      isStarted = true
      replayLoop = replay()
      if (config.INGEST_HEALTH_INTERVAL_MS > 0) {
        processSampler = createProcessSampler()
        healthTimer = setInterval(writeHealth, config.INGEST_HEALTH_INTERVAL_MS)
        healthTimer.unref()
      }
    },

    /** Flushes: every message taken ends in InfluxDB or the spool; later ones are refused (unacknowledged). */
    stop(): Promise<void> {
      if (!isStarted) return stopping ?? Promise.resolve()
      stopping ??= stopInternal()
      return stopping
    },

    accept,

    /** Stores an alert transition as measurement `alert_change`; resolves once durable like a reading. */
    async recordAlertChange(change: AlertChange): Promise<void> {
      requireRunning()
      counts.received++
      metrics.received.inc('alert_change')
      return add(alertChangeLine(change))
    },

    /** Stores a snapshot of the active alerts as measurement `alerts_active`; resolves once durable. */
    async recordActiveAlerts(snapshot: ActiveAlertsSnapshot): Promise<void> {
      requireRunning()
      const lines = activeAlertsLines(snapshot)
      counts.received += lines.length
      // All lines go into the open batch first; then wait for each distinct batch once.
      const batches = new Set<Promise<void>>()
      for (const line of lines) {
        metrics.received.inc('alerts_active')
        batches.add(add(line))
      }
      await Promise.all(batches)
    },

    /** Keeps a message this service cannot use (an invalid alert change, say) as a dead letter. */
    async reject(message: InboundMessage, reason: DeadLetterReason, detail: string): Promise<void> {
      requireRunning()
      counts.received++
      metrics.received.inc('unknown')
      return deadLetter({
        at: message.receivedAt,
        topic: message.topic,
        deviceId: parseTopic(message.topic)?.deviceId ?? null,
        reason,
        message: detail,
        payload: message.payload,
      })
    },

    deadLetters,
    stats,
  }
}
