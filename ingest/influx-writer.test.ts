import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { startFakeHttp } from '../test/support/fake-http.ts'
import { createTestDatabase, freePort, influxQuery, startInfluxd } from '../test/support/influxd.ts'
import { toV1Path } from './influx-v1-transport.ts'
import { createInfluxWriter, INFLUX_ERROR_CODES, type InfluxWriterConfig } from './influx-writer.ts'
import { LineBatch } from './line-batch.ts'

const base: Omit<InfluxWriterConfig, 'INFLUX_URL' | 'INFLUX_DB'> = {
  INFLUX_API: '1',
  INFLUX_ORG: '',
  INFLUX_TIMEOUT_MS: 5000,
  INFLUX_GZIP_THRESHOLD_BYTES: 0,
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'resolved'
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code'
  }
}

async function queryUs(url: string, q: string, db: string): Promise<unknown[][]> {
  const res = await fetch(`${url}/query?${new URLSearchParams({ q, db, epoch: 'u' })}`)
  const body = (await res.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }
  return body.results[0]?.series?.[0]?.values ?? []
}

describe('InfluxDB writer, INFLUX_API=1 against the real 1.x', () => {
  const url = inject('influxUrl')

  it('writes a batch in microseconds and reads it back', async () => {
    const db = await createTestDatabase(url, 'writer')
    const writer = createInfluxWriter({ ...base, INFLUX_URL: url, INFLUX_DB: db })
    await writer.probe()
    await writer.write(['m,device_id=a v=1i 1790000000000123', 'm,device_id=a v=2i 1790000000000124'])
    expect(await queryUs(url, 'SELECT v FROM m', db)).toEqual([
      [1790000000000123, 1],
      [1790000000000124, 2],
    ])
    // Writing the same points again overwrites them: still two.
    await writer.write(['m,device_id=a v=1i 1790000000000123'])
    expect(await influxQuery(url, 'SELECT count(v) FROM m', db)).toMatchObject([{ values: [[0, 2]] }])
  })

  it('says which of URL, database or data is wrong', async () => {
    const db = await createTestDatabase(url, 'writer')
    const missing = createInfluxWriter({ ...base, INFLUX_URL: url, INFLUX_DB: `${db}_missing` })
    expect(await codeOf(missing.probe())).toBe(INFLUX_ERROR_CODES.notFound)
    expect(await codeOf(missing.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.notFound)

    const nowhere = createInfluxWriter({
      ...base,
      INFLUX_URL: `http://127.0.0.1:${await freePort()}`,
      INFLUX_DB: db,
    })
    expect(await codeOf(nowhere.probe())).toBe(INFLUX_ERROR_CODES.unreachable)
    expect(await codeOf(nowhere.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.unreachable)

    const writer = createInfluxWriter({ ...base, INFLUX_URL: url, INFLUX_DB: db })
    await writer.write(['m v=1i 1'])
    expect(await codeOf(writer.write(['m v="text" 2']))).toBe(INFLUX_ERROR_CODES.rejected)
    expect(await codeOf(writer.write(['not line protocol']))).toBe(INFLUX_ERROR_CODES.rejected)
  })

  it('creates the database only when asked', async () => {
    const name = `writer_create_${Date.now().toString(36)}`
    const writer = createInfluxWriter({ ...base, INFLUX_URL: url, INFLUX_DB: name })
    expect(await codeOf(writer.probe())).toBe(INFLUX_ERROR_CODES.notFound)
    await writer.createDatabase()
    await writer.probe()
    await influxQuery(url, `DROP DATABASE "${name}"`)
  })

  it('sends user:password as basic auth to a server with auth on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'influxd-auth-'))
    const admin = { username: 'admin', password: "s3cret'x" }
    const server = await startInfluxd({ dir, admin })
    onTestFinished(async () => {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    const db = await createTestDatabase(server.url, 'auth', admin)
    const config = { ...base, INFLUX_URL: server.url, INFLUX_DB: db }
    const anonymous = createInfluxWriter(config)
    expect(await codeOf(anonymous.probe())).toBe(INFLUX_ERROR_CODES.auth)
    const wrong = createInfluxWriter({ ...config, INFLUX_TOKEN: 'admin:nope' })
    expect(await codeOf(wrong.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.auth)
    const right = createInfluxWriter({ ...config, INFLUX_TOKEN: `admin:${admin.password}` })
    await right.probe()
    await right.write(['m v=1i 1'])
    expect(await influxQuery(server.url, 'SELECT count(v) FROM m', db, admin)).toMatchObject([
      { values: [[0, 1]] },
    ])
  })
})

describe('InfluxDB writer, INFLUX_API=2', () => {
  it('maps v2 write paths to 1.x ones', () => {
    expect(toV1Path('/api/v2/write?org=&bucket=liftscale%2Fweek&precision=us')).toBe(
      '/write?db=liftscale&rp=week&precision=u',
    )
    expect(toV1Path('/api/v2/write?org=o&bucket=db&precision=ms')).toBe('/write?db=db&precision=ms')
    expect(toV1Path('/query?q=x')).toBe('/query?q=x')
  })

  // No InfluxDB 2.x package on this machine: a local HTTP server stands in for the v2 write endpoint.
  it('sends the v2 write request with the token, and classifies 401', async () => {
    const seen: Array<{ url: string; auth: string | undefined; body: string }> = []
    let status = 204
    const url = await startFakeHttp((req, body, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization, body: body.toString('utf8') })
      res.statusCode = status
      if (status !== 204) res.setHeader('content-type', 'application/json')
      res.end(
        status === 204 ? undefined : JSON.stringify({ code: 'unauthorized', message: 'unauthorized access' }),
      )
    })
    const writer = createInfluxWriter({
      ...base,
      INFLUX_API: '2',
      INFLUX_URL: url,
      INFLUX_DB: 'liftscale',
      INFLUX_BUCKET: 'telemetry',
      INFLUX_ORG: 'bureau',
      INFLUX_TOKEN: 'tok',
    })
    await writer.write(['m v=1i 1', 'm v=2i 2'])
    expect(seen[0]).toEqual({
      url: '/api/v2/write?org=bureau&bucket=telemetry&precision=us',
      auth: 'Token tok',
      body: 'm v=1i 1\nm v=2i 2',
    })
    status = 401
    expect(await codeOf(writer.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.auth)
    expect(await codeOf(writer.probe())).toBe(INFLUX_ERROR_CODES.auth)
  })

  it('sends a batch as one text request, gzipped above INFLUX_GZIP_THRESHOLD_BYTES', async () => {
    const seen: Array<{ type?: string; encoding?: string; body: string }> = []
    const url = await startFakeHttp((req, raw, res) => {
      const encoding = req.headers['content-encoding']
      const body = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')
      seen.push({ type: req.headers['content-type'], encoding, body })
      res.statusCode = 204
      res.end()
    })
    const writer = createInfluxWriter({
      ...base,
      INFLUX_API: '2',
      INFLUX_URL: url,
      INFLUX_DB: 'liftscale',
      INFLUX_GZIP_THRESHOLD_BYTES: 100,
    })
    const small = ['m v=1i 1']
    const large = Array.from({ length: 20 }, (_, i) => `m,device_id=el-${i} v=${i}i ${i + 1}`)
    await writer.write(small)
    await writer.write(large)
    expect(seen).toEqual([
      { type: 'text/plain; charset=utf-8', encoding: undefined, body: small.join('\n') },
      { type: 'text/plain; charset=utf-8', encoding: 'gzip', body: large.join('\n') },
    ])
  })

  it("writes a batch's bytes as they are, on one kept-alive connection, under the URL's own path", async () => {
    const seen: Array<{ url: string; port: number; body: string }> = []
    const url = await startFakeHttp((req, body, res) => {
      seen.push({ url: req.url ?? '', port: req.socket.remotePort ?? 0, body: body.toString('utf8') })
      res.statusCode = 204
      res.end()
    })
    const writer = createInfluxWriter({
      ...base,
      INFLUX_API: '2',
      INFLUX_URL: `${url}/influx/`,
      INFLUX_DB: 'liftscale',
      INFLUX_ORG: 'bureau',
    })
    const batches = [['m,site=桥口 v=1i 1', 'm v=2i 2'], ['m v=3i 3']].map((lines) => {
      const batch = new LineBatch()
      for (const line of lines) batch.push(line)
      return batch
    })
    for (const batch of batches) await writer.write(batch)
    expect(seen.map((s) => [s.url, s.body])).toEqual([
      ['/influx/api/v2/write?org=bureau&bucket=liftscale&precision=us', 'm,site=桥口 v=1i 1\nm v=2i 2\n'],
      ['/influx/api/v2/write?org=bureau&bucket=liftscale&precision=us', 'm v=3i 3\n'],
    ])
    expect(seen[1]?.port).toBe(seen[0]?.port)
  })

  it('gives up on a server that does not answer within INFLUX_TIMEOUT_MS, and says so', async () => {
    let requests = 0
    const url = await startFakeHttp((req) => {
      requests++
      // Never answers; the socket goes when the server closes.
      req.socket.setTimeout(10_000)
    })
    const writer = createInfluxWriter({
      ...base,
      INFLUX_API: '2',
      INFLUX_URL: url,
      INFLUX_DB: 'x',
      INFLUX_TIMEOUT_MS: 200,
    })
    expect(await codeOf(writer.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.unreachable)
    expect(requests).toBe(1)
  })

  it('classifies 503 as InfluxDB not writing now, with its message', async () => {
    const url = await startFakeHttp((_req, _body, res) => {
      res.statusCode = 503
      res.end(`overloaded ${'x'.repeat(200_000)}`)
    })
    const writer = createInfluxWriter({ ...base, INFLUX_API: '2', INFLUX_URL: url, INFLUX_DB: 'x' })
    const err = await writer.write(['m v=1i 1']).catch((e: unknown) => e as Error & { code: string })
    expect(err?.code).toBe(INFLUX_ERROR_CODES.unavailable)
    expect(err?.message).toMatch(/^InfluxDB answered 503: overloaded x+$/)
  })

  // InfluxDB 2.x answers a partial write (a field type conflict, a point beyond the bucket's
  // retention) with 422 Unprocessable Entity: the data is refused, retrying the same lines cannot help.
  it('classifies 422 as data InfluxDB refused', async () => {
    const url = await startFakeHttp((_req, _body, res) => {
      res.statusCode = 422
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          code: 'unprocessable entity',
          message:
            'failure writing points to database: partial write: points beyond retention policy dropped=1',
        }),
      )
    })
    const writer = createInfluxWriter({
      ...base,
      INFLUX_API: '2',
      INFLUX_URL: url,
      INFLUX_DB: 'liftscale',
    })
    expect(await codeOf(writer.write(['m v=1i 1']))).toBe(INFLUX_ERROR_CODES.rejected)
  })
})
