/** Options and results of the load generator, shared by its parent API and its child process. */
import type { DeviceKind } from '../../domain/topics.ts'
import type { InvalidKind } from './payloads.ts'

export type LoadDevice = { id: string; kind: DeviceKind; username?: string; password?: string }

export type LoadOptions = {
  /** mqtt://host:port */
  url: string
  devices: LoadDevice[]
  messagesPerDevice: number
  /** Published and not yet acknowledged QoS 1 messages per device, at most. */
  inflightPerDevice: number
  /** Messages per second per device; unset = as fast as the window allows. */
  ratePerDeviceHz?: number
  /** Share (0..1) of refused payloads interleaved, chosen per (device, seq). */
  invalidShare?: number
  /** First seq of every device (a second run continues the count). */
  startSeq?: number
  connectConcurrency?: number
  /** Stop waiting for acknowledgements after this long. */
  maxDurationMs?: number
  /** 'mqttjs' (default): the reference client. 'raw': the lean benchmark client (raw-mqtt.ts). */
  client?: 'mqttjs' | 'raw'
}

export type DeviceResult = {
  id: string
  published: number
  /** Messages the broker acknowledged (PUBACK). */
  acked: number
  /** Of those, the valid readings. */
  ackedValid: number
  ackedInvalid: Record<InvalidKind, number>
  firstSeq: number
}

export type LoadResult = {
  devices: DeviceResult[]
  publishedTotal: number
  ackedTotal: number
  /** First publish to last acknowledgement. */
  durationMs: number
  ratePerS: number
  /** Publish to PUBACK. */
  latencyMs: { p50: number; p90: number; p99: number; max: number }
  errors: string[]
}

export type LoadToChild = { type: 'start'; options: LoadOptions } | { type: 'go' }
export type LoadToParent =
  | { type: 'connected' }
  | { type: 'ready' }
  | { type: 'progress'; acked: number; published: number }
  | { type: 'done'; result: LoadResult }
  | { type: 'failed'; error: string }
