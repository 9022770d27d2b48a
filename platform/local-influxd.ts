/**
 * Runs a real InfluxDB 1.x (`influxd` from Debian's `influxdb` package) for the demo, tests and
 * benchmarks: loopback only, data in a folder of the caller's, stopped by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'

export type Influxd = {
  url: string
  port: number
  dir: string
  /** Starts the server (again) with the same data; resolves when /ping answers. */
  start(): Promise<void>
  /** Stops the server (SIGTERM, then SIGKILL after 10 s); safe to call twice. */
  stop(): Promise<void>
  isRunning(): boolean
}

/**
 * Go's garbage collector target for influxd (GOGC; Go's default is 100), unless the caller's
 * environment sets one. Ingest keeps InfluxDB busy allocating, and at 100 its collector is a good
 * part of its CPU: in the throughput benchmark 200 took ~1.2 of InfluxDB's ~13 µs per reading, for
 * more of its memory (docs/benchmarks.md, stop 16). docker-compose.yml sets the same for InfluxDB 2.x.
 */
const INFLUXD_GOGC = '200'

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function configText(dir: string, httpPort: number, rpcPort: number, isAuthEnabled = false): string {
  return `
reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${isAuthEnabled}
  log-enabled = false
  max-body-size = 0

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
`
}

export async function startInfluxd(options: {
  dir: string
  port?: number
  binary?: string
  /** Turns HTTP auth on and creates this admin user (the first user may be created without auth). */
  admin?: InfluxCredentials
}): Promise<Influxd> {
  const port = options.port ?? (await freePort())
  const rpcPort = await freePort()
  mkdirSync(options.dir, { recursive: true })
  const configFile = join(options.dir, 'influxdb.conf')
  writeFileSync(configFile, configText(options.dir, port, rpcPort, options.admin !== undefined))
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()

  async function start(): Promise<void> {
    if (child) return
    const proc = spawn(options.binary ?? 'influxd', ['-config', configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GOGC: process.env.GOGC ?? INFLUXD_GOGC },
    })
    let stderr = ''
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    child = proc
    // Our influxd dies with us, however we exit (a SIGKILL aside: nothing runs then).
    const killOnExit = () => {
      if (proc.exitCode === null && proc.pid !== undefined) process.kill(proc.pid, 'SIGTERM')
    }
    process.once('exit', killOnExit)
    exited = new Promise((resolve) =>
      proc.once('exit', () => {
        process.removeListener('exit', killOnExit)
        resolve()
      }),
    )
    const spawnError = new Promise<never>((_, reject) =>
      proc.once('error', (err) =>
        reject(new Error(`cannot run influxd (apt-get install -y influxdb): ${err.message}`, { cause: err })),
      ),
    )
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`influxd exited with ${proc.exitCode}: ${stderr}`)
      const ok = await Promise.race([
        fetch(`${url}/ping`).then(
          (r) => r.status === 204,
          () => false,
        ),
        spawnError,
      ])
      if (ok) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`influxd did not answer on ${url} within 30 s: ${stderr}`)
  }

  async function stop(): Promise<void> {
    const proc = child
    if (!proc) return
    child = null
    if (proc.exitCode === null && proc.pid !== undefined) {
      process.kill(proc.pid, 'SIGTERM')
      const timer = setTimeout(() => {
        if (proc.exitCode === null && proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(timer)
    }
  }

  await start()
  if (options.admin) {
    const { username, password } = options.admin
    const users = await influxQuery(url, 'SHOW USERS', undefined, options.admin).catch(() => [])
    if (users.length === 0) {
      await influxQuery(
        url,
        `CREATE USER "${username}" WITH PASSWORD '${password.replace(/'/g, "\\'")}' WITH ALL PRIVILEGES`,
      )
    }
  }
  return { url, port, dir: options.dir, start, stop, isRunning: () => child !== null }
}

export type InfluxCredentials = { username: string; password: string }

/** Runs an InfluxQL statement; throws with InfluxDB's own error text. */
export async function influxQuery(
  url: string,
  q: string,
  db?: string,
  auth?: InfluxCredentials,
): Promise<Array<{ name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> }>> {
  const params = new URLSearchParams({ q, epoch: 'ms' })
  if (db) params.set('db', db)
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (auth) {
    headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
  }
  const res = await fetch(`${url}/query`, {
    method: 'POST',
    headers,
    body: params,
  })
  const body = (await res.json()) as {
    error?: string
    results?: Array<{
      error?: string
      series?: Array<{ name: string; columns: string[]; values: unknown[][] }>
    }>
  }
  if (!res.ok || body.error) throw new Error(`InfluxDB ${res.status}: ${body.error ?? 'no body'}`)
  const first = body.results?.[0]
  if (first?.error) throw new Error(`InfluxQL: ${first.error}`)
  return first?.series ?? []
}

/** A fresh database with a name unique to the test. */
export async function createTestDatabase(
  url: string,
  prefix = 'test',
  auth?: InfluxCredentials,
): Promise<string> {
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await influxQuery(url, `CREATE DATABASE "${name}"`, undefined, auth)
  return name
}

/** The `influxd` binary on PATH (or in /usr/bin), or null when InfluxDB is not installed. */
export function findInfluxd(path = process.env.PATH ?? ''): string | null {
  for (const dir of [...path.split(delimiter), '/usr/bin', '/usr/local/bin']) {
    if (!dir) continue
    const candidate = join(dir, 'influxd')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return null
}

export type LocalInfluxd = Influxd

/** For the demo: `preferredPort` when free (8086, InfluxDB's own), else any free port. */
export async function startLocalInfluxd(options: {
  dir: string
  binary: string
  preferredPort: number
}): Promise<LocalInfluxd> {
  const port = (await isPortFree(options.preferredPort)) ? options.preferredPort : await freePort()
  return startInfluxd({ dir: options.dir, binary: options.binary, port })
}

function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}
