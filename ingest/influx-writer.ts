/**
 * Sends batches of line protocol to InfluxDB and says plainly why a batch was not taken. Each write is
 * one request of the batch's bytes (influx-write-request.ts) that ends either accepted (2xx) or
 * rejected to ingest, which spools it; nothing is retried or buffered here behind ingest's back.
 * @influxdata/influxdb-client does `CREATE DATABASE`, and its `HttpError` is the one refusal
 * classified below.
 */
import { HttpError, InfluxDB } from '@influxdata/influxdb-client'
import { DomainError } from '../domain/errors.ts'
import { createV1Transport, toV1Path } from './influx-v1-transport.ts'
import { createWriteRequest } from './influx-write-request.ts'
import { LineBatch } from './line-batch.ts'
import { PRECISION } from './line-protocol.ts'

/** Why InfluxDB did not take a batch; `rejected` is the only one retrying cannot fix. */
export const INFLUX_ERROR_CODES = {
  /** No answer: connection refused, DNS, timeout. */
  unreachable: 'INFLUX_UNREACHABLE',
  /** 401/403: wrong token or user:password. */
  auth: 'INFLUX_AUTH',
  /** 404: the database or bucket does not exist. */
  notFound: 'INFLUX_NOT_FOUND',
  /**
   * 400, or 422 from 2.x (its partial write): InfluxDB refused the data itself (a field type conflict,
   * a point beyond retention).
   */
  rejected: 'INFLUX_REJECTED',
  /** 413: the request was too large. */
  tooLarge: 'INFLUX_TOO_LARGE',
  /** 5xx, 429 and anything else: InfluxDB is there but not writing now. */
  unavailable: 'INFLUX_UNAVAILABLE',
} as const

export type InfluxWriterConfig = {
  INFLUX_URL: string
  INFLUX_API: '1' | '2'
  INFLUX_DB: string
  INFLUX_RP?: string | undefined
  INFLUX_BUCKET?: string | undefined
  INFLUX_ORG: string
  INFLUX_TOKEN?: string | undefined
  INFLUX_TIMEOUT_MS: number
  INFLUX_GZIP_THRESHOLD_BYTES: number
}

export type InfluxWriter = ReturnType<typeof createInfluxWriter>

function serverMessage(err: HttpError): string {
  const body = err.body ?? ''
  try {
    const json: unknown = JSON.parse(body)
    if (typeof json === 'object' && json !== null) {
      if ('error' in json && typeof json.error === 'string') return json.error
      if ('message' in json && typeof json.message === 'string') return json.message
    }
  } catch {
    // not JSON: the text itself
  }
  return (body || err.message).slice(0, 500)
}

/** Turns whatever the client threw into a DomainError with one of INFLUX_ERROR_CODES. */
export function classifyInfluxError(err: unknown, target: string): DomainError {
  if (err instanceof DomainError) return err
  if (err instanceof HttpError) {
    const text = serverMessage(err)
    const status = err.statusCode
    const details = { status, target }
    if (status === 401 || status === 403) {
      return new DomainError(
        INFLUX_ERROR_CODES.auth,
        `InfluxDB refused the credentials (${status} ${text}): check INFLUX_TOKEN`,
        { cause: err, details },
      )
    }
    if (status === 404) {
      return new DomainError(
        INFLUX_ERROR_CODES.notFound,
        `InfluxDB has no such database or bucket (${text}): create it, or check INFLUX_DB / INFLUX_BUCKET`,
        { cause: err, details },
      )
    }
    // 2.x answers a partial write with 422 where 1.x says 400; either way retrying the same lines
    // cannot help, and left in the spool such a line would hold up every line behind it.
    if (status === 400 || status === 422) {
      return new DomainError(INFLUX_ERROR_CODES.rejected, `InfluxDB refused the data: ${text}`, {
        cause: err,
        details,
      })
    }
    if (status === 413) {
      return new DomainError(INFLUX_ERROR_CODES.tooLarge, `InfluxDB: request too large (${text})`, {
        cause: err,
        details,
      })
    }
    return new DomainError(INFLUX_ERROR_CODES.unavailable, `InfluxDB answered ${status}: ${text}`, {
      cause: err,
      details,
    })
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const message = err instanceof Error ? err.message : String(err)
  return new DomainError(
    INFLUX_ERROR_CODES.unreachable,
    `InfluxDB at ${target} does not answer (${code ?? message}): check INFLUX_URL and that it runs`,
    { cause: err, details: { target, errno: code } },
  )
}

export function createInfluxWriter(config: InfluxWriterConfig) {
  const isV1 = config.INFLUX_API === '1'
  const bucket =
    config.INFLUX_BUCKET ?? (config.INFLUX_RP ? `${config.INFLUX_DB}/${config.INFLUX_RP}` : config.INFLUX_DB)
  const target = `${config.INFLUX_URL} (${isV1 ? `1.x /write db=${bucket}` : `v2 bucket=${bucket}`})`
  const client = isV1
    ? new InfluxDB({
        url: config.INFLUX_URL,
        transport: createV1Transport({
          url: config.INFLUX_URL,
          credentials: config.INFLUX_TOKEN,
          timeoutMs: config.INFLUX_TIMEOUT_MS,
        }),
      })
    : new InfluxDB({ url: config.INFLUX_URL, token: config.INFLUX_TOKEN, timeout: config.INFLUX_TIMEOUT_MS })
  const writePath = `/api/v2/write?org=${encodeURIComponent(config.INFLUX_ORG)}&bucket=${encodeURIComponent(bucket)}&precision=${PRECISION}`

  // A batch is one request of the bytes ingest already encoded (influx-write-request.ts). The library's
  // WriteApi would copy the array, measure every line again and keep its own buffers, per batch (2.8 %
  // of the platform's time in the throughput benchmark), and its transport takes text only.
  const writeRequest = createWriteRequest({
    baseUrl: config.INFLUX_URL,
    path: isV1 ? toV1Path(writePath) : writePath,
    authorization:
      config.INFLUX_TOKEN === undefined
        ? undefined
        : isV1
          ? `Basic ${Buffer.from(config.INFLUX_TOKEN, 'utf8').toString('base64')}`
          : `Token ${config.INFLUX_TOKEN}`,
    timeoutMs: config.INFLUX_TIMEOUT_MS,
    gzipThresholdBytes: config.INFLUX_GZIP_THRESHOLD_BYTES,
  })

  return {
    target,

    /** Resolves once InfluxDB accepted every line (2xx); rejects with a classified DomainError. */
    async write(lines: readonly string[] | LineBatch): Promise<void> {
      if (lines.length === 0) return
      const body = lines instanceof LineBatch ? lines.body() : Buffer.from(lines.join('\n'), 'utf8')
      try {
        await writeRequest.post(body)
      } catch (err) {
        throw classifyInfluxError(err, target)
      }
    },

    /** An empty write: proves the URL, the credentials and the database without writing anything. */
    async probe(): Promise<void> {
      try {
        // Through the batches' own request: the probe proves the URL, headers and credentials they use.
        await writeRequest.post(Buffer.alloc(0))
      } catch (err) {
        const error = classifyInfluxError(err, target)
        // Some servers refuse an empty body as bad data: they answered, knew us and the bucket.
        if (error.code === INFLUX_ERROR_CODES.rejected) return
        throw error
      }
    },

    /** INFLUX_API=1 only: `CREATE DATABASE` (idempotent on the server). */
    async createDatabase(): Promise<void> {
      if (!isV1) throw new DomainError('INFLUX_CREATE_UNSUPPORTED', 'INFLUX_CREATE_DB needs INFLUX_API=1')
      const q = `CREATE DATABASE "${config.INFLUX_DB.replace(/["\\]/g, '\\$&')}"`
      try {
        await client.transport.request(`/query?q=${encodeURIComponent(q)}`, '', { method: 'POST' })
      } catch (err) {
        throw classifyInfluxError(err, target)
      }
    },
  }
}
