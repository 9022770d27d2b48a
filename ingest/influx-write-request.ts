/**
 * The write request itself: one POST of a batch's bytes, on a keep-alive connection.
 *
 * @influxdata/influxdb-client's transport takes a request body as text only (anything else it sends as
 * JSON) and encodes it into a new buffer. Ingest holds a batch as bytes already (line-batch.ts): going
 * through the library cost a decode and an encode of each batch, ~0.4 µs per line at full rate, for
 * nothing. The rest is as the library does it: the same headers, gzip above a threshold, a timeout, and
 * a refusal as the library's own `HttpError`, which influx-writer.ts classifies.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client'

const gzip = promisify(gzipCallback)

/** How long a kept-alive socket may sit idle before the agent closes it. */
const IDLE_SOCKET_MS = 5000

/** The error text kept from a refusal: InfluxDB's message is short, a proxy's page need not be. */
const MAX_ERROR_BODY_BYTES = 64 * 1024

export type WriteRequestOptions = {
  /** The server's URL (a path in it is kept as a prefix, as the library does). */
  baseUrl: string
  /** Path and query of the write, `/write?db=…` or `/api/v2/write?…`. */
  path: string
  /** The authorization header, when the server wants one. */
  authorization?: string | undefined
  timeoutMs: number
  /** Bodies larger than this go gzipped; 0 = never. */
  gzipThresholdBytes: number
}

export type WriteRequest = {
  /** Resolves on a 2xx answer; rejects with an `HttpError`, a `RequestTimedOutError` or a socket error. */
  post(body: Buffer): Promise<void>
}

export function createWriteRequest(options: WriteRequestOptions): WriteRequest {
  const base = new URL(options.baseUrl)
  const isTls = base.protocol === 'https:'
  const send = isTls ? httpsRequest : httpRequest
  // Keep-alive as Node's global agent, which the library used: an idle socket is closed after 5 s (before
  // a server's own idle timeout can close it under a request), and is unref'd, never holding the process.
  const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS }
  const agent = isTls ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions)
  const url = new URL(`${base.pathname.replace(/\/+$/, '')}${options.path}`, base)
  const fixedHeaders: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' }
  if (options.authorization !== undefined) fixedHeaders.authorization = options.authorization

  async function post(body: Buffer): Promise<void> {
    const headers: Record<string, string | number> = { ...fixedHeaders }
    let payload = body
    if (options.gzipThresholdBytes > 0 && body.length > options.gzipThresholdBytes) {
      payload = await gzip(body)
      headers['content-encoding'] = 'gzip'
    }
    headers['content-length'] = payload.length
    return new Promise<void>((resolve, reject) => {
      const req = send(url, { method: 'POST', agent, headers }, (res) => {
        answered(res).then(resolve, reject)
      })
      req.setTimeout(options.timeoutMs, () => req.destroy(new RequestTimedOutError()))
      req.on('error', reject)
      req.end(payload)
    })
  }

  return { post }
}

/** Reads the answer: nothing for a 2xx (the socket goes back to the agent), the error otherwise. */
function answered(res: IncomingMessage): Promise<void> {
  const status = res.statusCode ?? 0
  if (status >= 200 && status < 300) {
    res.resume()
    return new Promise((resolve, reject) => {
      res.on('end', resolve)
      res.on('error', reject)
    })
  }
  return new Promise((_, reject) => {
    const chunks: Buffer[] = []
    let kept = 0
    res.on('data', (chunk: Buffer) => {
      if (kept >= MAX_ERROR_BODY_BYTES) return
      chunks.push(chunk)
      kept += chunk.length
    })
    res.on('error', reject)
    res.on('end', () => {
      const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8')
      const header = (name: string): string | undefined => {
        const value = res.headers[name]
        return Array.isArray(value) ? value[0] : value
      }
      reject(new HttpError(status, res.statusMessage, text, header('retry-after'), header('content-type')))
    })
  })
}
