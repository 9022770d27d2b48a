/**
 * INFLUX_API=1: a Transport for @influxdata/influxdb-client that sends its v2 writes to the 1.x
 * endpoint, for servers older than 1.8 (Debian's 1.6.7 has no `/api/v2/write`). The client goes through
 * it for `CREATE DATABASE`; batches and the probe go through influx-write-request.ts, to the path
 * `toV1Path` gives:
 *
 *   POST /api/v2/write?org=&bucket=db[/rp]&precision=us  ->  POST /write?db=&rp=&precision=u
 *
 * 1.x spells microseconds `u` (it reads `precision=us` as nanoseconds). Credentials `user:password`
 * go as HTTP basic auth, which every 1.x accepts (the `Token user:password` form needs 1.8).
 */
import {
  type CommunicationObserver,
  InfluxDB,
  type ResponseStartedFn,
  type SendOptions,
  type Transport,
} from '@influxdata/influxdb-client'

const V1_PRECISION: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' }

export type V1TransportOptions = {
  url: string
  /** `user:password`; unset when the server has no auth. */
  credentials?: string
  timeoutMs: number
}

/** Maps a v2 write path to the 1.x one; other paths are left alone. */
export function toV1Path(path: string): string {
  const [route, query = ''] = path.split('?', 2)
  if (route !== '/api/v2/write') return path
  const params = new URLSearchParams(query)
  const bucket = params.get('bucket') ?? ''
  const slash = bucket.indexOf('/')
  const db = slash < 0 ? bucket : bucket.slice(0, slash)
  const rp = slash < 0 ? '' : bucket.slice(slash + 1)
  const v1 = new URLSearchParams({ db })
  if (rp !== '') v1.set('rp', rp)
  const precision = params.get('precision')
  if (precision !== null) v1.set('precision', V1_PRECISION[precision] ?? precision)
  const consistency = params.get('consistency')
  if (consistency !== null) v1.set('consistency', consistency)
  return `/write?${v1.toString()}`
}

export function createV1Transport(options: V1TransportOptions): Transport {
  const headers: Record<string, string> = {}
  if (options.credentials !== undefined) {
    headers.authorization = `Basic ${Buffer.from(options.credentials, 'utf8').toString('base64')}`
  }
  // The library's own Node transport (keep-alive, timeouts, gzip, HttpError), built without a token.
  const inner = new InfluxDB({ url: options.url, timeout: options.timeoutMs, headers }).transport
  return {
    send(
      path: string,
      requestBody: string,
      sendOptions: SendOptions,
      callbacks?: Partial<CommunicationObserver<Uint8Array>>,
    ): void {
      inner.send(toV1Path(path), requestBody, sendOptions, callbacks)
    },
    request(
      path: string,
      requestBody: unknown,
      sendOptions: SendOptions,
      responseStarted?: ResponseStartedFn,
    ) {
      return inner.request(toV1Path(path), requestBody, sendOptions, responseStarted)
    },
    iterate(path: string, requestBody: unknown, sendOptions: SendOptions) {
      return inner.iterate(toV1Path(path), requestBody, sendOptions)
    },
    chunkCombiner: inner.chunkCombiner,
  }
}
