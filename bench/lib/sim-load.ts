/**
 * Simulator-driven load from separate processes (sim-load-child.ts): the devices are split over
 * `processes` children, so that neither the generator's event loop nor its open-files limit is the
 * platform's. Used by the district and connections profiles of `npm run bench`.
 *
 *   const load = startSimLoad({ ...options, processes: 4 }, { onCondition })
 *   await load.connected      // every device tried once (connected or failed)
 *   load.go()                 // devices start reporting (district) / injections are scheduled from now
 *   const result = await load.stop()
 */
import { type ChildProcess, fork } from 'node:child_process'
import { UPLINK_TYPES } from '../../domain/topics.ts'
import { fromSparse, type HistogramData, mergeHistograms } from './histogram.ts'
import type {
  ConditionTimes,
  SimLoadOptions,
  SimLoadProgress,
  SimLoadResult,
  SimToChild,
  SimToParent,
} from './sim-load-types.ts'

export type { ConditionTimes, SimLoadOptions, SimLoadResult, TrappedInjection } from './sim-load-types.ts'

export type SimLoad = {
  /** Resolves when every child has tried all its devices. */
  connected: Promise<SimLoadProgress>
  go(): void
  /** Stops reporting, waits for outstanding PUBACKs, closes connections; the merged result. */
  stop(): Promise<SimLoadResult>
  progress(): SimLoadProgress
  /** Latency of the acknowledgements received in each window after go (all processes merged). */
  timeline(): HistogramData[]
  pids(): number[]
  kill(): void
}

export function startSimLoad(
  options: SimLoadOptions & {
    processes: number /** Node options of the children (--cpu-prof …). */
    nodeArgs?: string[]
  },
  hooks: { onCondition?: (times: ConditionTimes) => void; onError?: (error: string) => void } = {},
): SimLoad {
  const n = Math.max(1, Math.min(options.processes, options.devices.length))
  const children: ChildProcess[] = []
  const progressOf: SimLoadProgress[] = []
  const connected: Promise<void>[] = []
  const done: Promise<SimLoadResult>[] = []
  const windows: HistogramData[][] = []
  for (let c = 0; c < n; c++) {
    // Contiguous slices: each child's devices keep their order (and the start spread its shape).
    const from = Math.floor((c * options.devices.length) / n)
    const to = Math.floor(((c + 1) * options.devices.length) / n)
    const devices = options.devices.slice(from, to)
    const ids = new Set(devices.map((d) => d.id))
    const child = fork(new URL('./sim-load-child.ts', import.meta.url).pathname, [], {
      execArgv: [...(options.nodeArgs ?? []), '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    children.push(child)
    progressOf.push({ attempted: 0, connected: 0, connectFailed: 0, published: 0, acked: 0 })
    let onConnected: () => void = () => undefined
    let onFailed: (err: Error) => void = () => undefined
    connected.push(
      new Promise<void>((resolve, reject) => {
        onConnected = resolve
        onFailed = reject
      }),
    )
    done.push(
      new Promise<SimLoadResult>((resolve, reject) => {
        let isSettled = false
        child.on('message', (m: SimToParent) => {
          if (m.type === 'progress' || m.type === 'connected') {
            const { attempted, connected: conn, connectFailed, published, acked } = m
            progressOf[c] = { attempted, connected: conn, connectFailed, published, acked }
            if (m.type === 'connected') onConnected()
          } else if (m.type === 'condition') hooks.onCondition?.(m.times)
          else if (m.type === 'window') {
            const list = windows[m.index] ?? []
            list.push(fromSparse(m.latency))
            windows[m.index] = list
          } else if (m.type === 'done') {
            isSettled = true
            resolve(m.result)
          } else if (m.type === 'failed') {
            hooks.onError?.(m.error)
            isSettled = true
            const err = new Error(`load generator ${c}: ${m.error}`)
            onFailed(err)
            reject(err)
          }
        })
        // 'close', not 'exit': a large last message may still be on its way when the process has exited.
        child.once('close', (code, signal) => {
          if (isSettled) return
          const err = new Error(`load generator ${c} exited (${code ?? signal}) before it finished`)
          onFailed(err)
          reject(err)
        })
      }),
    )
    const { nodeArgs: _nodeArgs, processes: _processes, ...childOptions } = options
    const message: SimToChild = {
      type: 'start',
      options: {
        ...childOptions,
        devices,
        injections: options.injections.filter((i) => ids.has(i.deviceId)),
        // Each child keeps the fleet's seed: a device draws from a stream keyed by its own id.
        seed: options.seed,
      },
    }
    child.send(message)
  }
  for (const p of [...connected, ...done]) p.catch(() => undefined)
  const sendAll = (m: SimToChild): void => {
    for (const child of children) if (child.connected) child.send(m)
  }
  const total = (): SimLoadProgress => {
    const sum = { attempted: 0, connected: 0, connectFailed: 0, published: 0, acked: 0 }
    for (const p of progressOf) {
      sum.attempted += p.attempted
      sum.connected += p.connected
      sum.connectFailed += p.connectFailed
      sum.published += p.published
      sum.acked += p.acked
    }
    return sum
  }
  return {
    connected: Promise.all(connected).then(total),
    go: () => sendAll({ type: 'go' }),
    async stop() {
      sendAll({ type: 'stop' })
      return mergeResults(await Promise.all(done))
    },
    progress: total,
    timeline: () => windows.map((parts) => mergeHistograms(parts ?? [])),
    pids: () => children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
    kill: () => {
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
    },
  }
}

function mergeResults(parts: SimLoadResult[]): SimLoadResult {
  const byType = Object.fromEntries(
    UPLINK_TYPES.map((t) => [t, { published: 0, acked: 0 }]),
  ) as SimLoadResult['byType']
  const connectErrors: Record<string, number> = {}
  const dropReasons: Record<string, number> = {}
  const sum = (pick: (r: SimLoadResult) => number): number => parts.reduce((a, r) => a + pick(r), 0)
  for (const r of parts) {
    for (const t of UPLINK_TYPES) {
      byType[t].published += r.byType[t].published
      byType[t].acked += r.byType[t].acked
    }
    for (const [k, v] of Object.entries(r.connectErrors)) connectErrors[k] = (connectErrors[k] ?? 0) + v
    for (const [k, v] of Object.entries(r.dropReasons)) dropReasons[k] = (dropReasons[k] ?? 0) + v
  }
  return {
    attempted: sum((r) => r.attempted),
    connected: sum((r) => r.connected),
    connectFailed: sum((r) => r.connectFailed),
    dropped: sum((r) => r.dropped),
    dropReasons,
    connectErrors,
    published: sum((r) => r.published),
    acked: sum((r) => r.acked),
    publishFailed: sum((r) => r.publishFailed),
    unacked: sum((r) => r.unacked),
    byType,
    latency: mergeHistograms(parts.map((r) => r.latency)),
    durationMs: Math.max(0, ...parts.map((r) => r.durationMs)),
    measuredAcked: sum((r) => r.measuredAcked),
    measuredMs: Math.max(0, ...parts.map((r) => r.measuredMs)),
    ...(parts.some((r) => r.traced) ? { traced: parts.flatMap((r) => r.traced ?? []) } : {}),
  }
}
