/** Options and results of the simulator-driven load (sim-load.ts and its child processes). */
import type { UplinkType } from '../../domain/topics.ts'
import type { ElevatorSimOptions } from '../../simulators/elevator.ts'
import type { ScaleSimOptions } from '../../simulators/scale.ts'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'
import type { HistogramData, SparseHistogram } from './histogram.ts'

/** A trapped-passenger sequence started in one elevator at a known time after `go`. */
export type TrappedInjection = {
  deviceId: string
  atMs: number
  /**
   * 'derived': the controller never says `trapped`; the alert comes from the status (stopped, door
   * closed, occupied) lasting TRAPPED_AFTER_S. 'event': the controller sends `trapped` after
   * `eventAfterMs`, before that wait is over.
   */
  variant: 'derived' | 'event'
  levelled: boolean
  eventAfterMs: number
  releaseAfterMs: number
}

export type SimLoadOptions = {
  host: string
  port: number
  /** Several brokers (a split deployment): device i connects to ports[i % length] instead of `port`. */
  ports?: number[]
  /**
   * Publish times of measured readings of about one device in `traceEvery` (influx-proxy.ts
   * isTraced), returned as `traced`; 0 or unset: none.
   */
  traceEvery?: number
  /** Source addresses connections are spread over; empty: the OS picks. */
  sourceAddresses: string[]
  devices: SimulatedDeviceSpec[]
  seed: string
  /**
   * Added to the wall clock for the simulators' time of day (to run at a chosen hour), taken off again
   * from every `ts` they emit, so the platform sees the present.
   */
  simOffsetMs: number
  elevator: Partial<ElevatorSimOptions>
  scale: Partial<ScaleSimOptions>
  /** Devices are advanced in `phases` groups, one group every tickMs / phases: load comes evenly. */
  tickMs: number
  phases: number
  keepaliveS: number
  connectConcurrency: number
  connectTimeoutMs: number
  connectAttempts: number
  /** After this many devices in a row failed to connect, the rest are not tried (the server is full). */
  giveUpAfterFailures: number
  /** true: a device starts reporting once connected; false: every device starts at `go` (spread over startSpreadMs). */
  isReportingOnConnect: boolean
  startSpreadMs: number
  /** Latencies of messages published within this time after `go` are not counted (warm-up). */
  warmupMs: number
  /** Length of the windows of the latency timeline. */
  windowMs: number
  injections: TrappedInjection[]
}

export type TypeCounts = { published: number; acked: number }

export type SimLoadResult = {
  attempted: number
  connected: number
  connectFailed: number
  /** Connections that closed while the load ran. */
  dropped: number
  /** Why they closed (socket error or "closed by the server"), with counts. */
  dropReasons: Record<string, number>
  /** Failure reasons seen while connecting, with counts (first 20 kinds). */
  connectErrors: Record<string, number>
  published: number
  acked: number
  publishFailed: number
  /** Published and neither acknowledged nor failed when the run was stopped. */
  unacked: number
  byType: Record<UplinkType, TypeCounts>
  /** Publish to PUBACK, messages published after the warm-up. */
  latency: HistogramData
  /** go -> stop, ms. */
  durationMs: number
  /** Acknowledged after the warm-up, per second of the measured window. */
  measuredAcked: number
  measuredMs: number
  /** Published readings of traced devices after the warm-up: [traceKey, wall-clock ms of publish]. */
  traced?: [string, number][]
}

/** When the condition of an injected sequence was published (wall clock, ms with fractions). */
export type ConditionTimes = {
  deviceId: string
  variant: 'derived' | 'event'
  /** The first status showing stopped, door closed and occupied. */
  statusAt: number | null
  /** The controller's `trapped` event (event variant). */
  eventAt: number | null
}

export type SimLoadProgress = {
  attempted: number
  connected: number
  connectFailed: number
  published: number
  acked: number
}

export type SimToChild = { type: 'start'; options: SimLoadOptions } | { type: 'go' } | { type: 'stop' }
export type SimToParent =
  | ({ type: 'progress' } & SimLoadProgress)
  | ({ type: 'connected' } & SimLoadProgress)
  | { type: 'condition'; times: ConditionTimes }
  /** Publish -> PUBACK of the acknowledgements received in the `index`-th window after go. */
  | { type: 'window'; index: number; latency: SparseHistogram }
  | { type: 'done'; result: SimLoadResult }
  | { type: 'failed'; error: string }
