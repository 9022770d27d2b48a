/**
 * Publish -> stored in a split deployment. There a device's PUBACK means "in Redis, queued for
 * ingest" (docs/deployment.md), not "in InfluxDB", so the generator's publish -> PUBACK is not the
 * figure. Instead ingest writes to InfluxDB through this loopback HTTP proxy, which notes when
 * InfluxDB answered 2xx to the write holding each reading of a traced device (`device_id` tag and
 * `seq` field of the line); the generator notes when it published those readings; the difference is
 * publish -> stored, per reading. A device is traced when `isTraced(id, every)`: the same on both
 * sides, about one device in `every`, so the proxy keeps a sample rather than every line.
 */
import { createServer, request, type Server } from 'node:http'
import { gunzipSync } from 'node:zlib'

/** FNV-1a of the id: about one device in `every` is traced (0: none). */
export function isTraced(deviceId: string, every: number): boolean {
  if (every <= 0) return false
  let h = 0x811c9dc5
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % every === 0
}

export const traceKey = (deviceId: string, seq: number): string => `${deviceId}/${seq}`

export type InfluxProxy = {
  url: string
  /** Wall-clock ms at which InfluxDB acknowledged the write of each traced reading (first write wins). */
  storedAt: Map<string, number>
  /** Write requests forwarded, and those InfluxDB answered with something else than 2xx. */
  stats(): { writes: number; failed: number }
  close(): Promise<void>
}

const DEVICE = /,device_id=([^, ]+)/
const SEQ = /[ ,]seq=(\d+)i/

export async function startInfluxProxy(target: string, traceEvery: number): Promise<InfluxProxy> {
  const to = new URL(target)
  const storedAt = new Map<string, number>()
  let writes = 0
  let failed = 0
  const note = (body: Buffer, at: number): void => {
    for (const line of body.toString('utf8').split('\n')) {
      const device = DEVICE.exec(line)?.[1]
      if (device === undefined || !isTraced(device, traceEvery)) continue
      const seq = SEQ.exec(line)?.[1]
      if (seq === undefined) continue
      const key = traceKey(device, Number(seq))
      if (!storedAt.has(key)) storedAt.set(key, at)
    }
  }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const isWrite = (req.url ?? '').startsWith('/write')
      if (isWrite) writes++
      const upstream = request(
        {
          host: to.hostname,
          port: to.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: to.host },
        },
        (answer) => {
          const parts: Buffer[] = []
          answer.on('data', (c: Buffer) => parts.push(c))
          answer.on('end', () => {
            const at = Date.now()
            const status = answer.statusCode ?? 502
            // Ingest hears the answer first; the lines are read after.
            res.writeHead(status, answer.headers).end(Buffer.concat(parts))
            if (isWrite && status >= 200 && status < 300) {
              note(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body, at)
            } else if (isWrite) failed++
          })
        },
      )
      upstream.on('error', (err) => {
        if (isWrite) failed++
        res.writeHead(502).end(err.message)
      })
      upstream.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    storedAt,
    stats: () => ({ writes, failed }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
