/**
 * Runs a real Redis (`redis-server` from Debian's `redis-server` package) for the cluster tests and the
 * benchmark's cluster mode: loopback only, in a folder of the caller's, no snapshots or append-only
 * file (what they hold lives as long as the server), stopped by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { connect, createServer } from 'node:net'

export type LocalRedis = {
  url: string
  port: number
  pid: number | undefined
  /** SIGTERM, then SIGKILL after 10 s; safe twice. */
  stop(): Promise<void>
  isRunning(): boolean
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Whether the Redis answering on this port is the process `pid`: a PING alone could be answered by
 * another test's Redis that took the port first (ours then exits with "Address already in use").
 */
function answersAs(port: number, pid: number | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('INFO server\r\n'))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      const match = /\bprocess_id:(\d+)/.exec(reply)
      if (match) done(Number(match[1]) === pid)
      else if (reply.startsWith('-')) done(false)
    })
  })
}

type LocalRedisOptions = {
  dir: string
  port?: number
  binary?: string
  /** Clients at most (redis-server's default is 10,000). */
  maxClients?: number
}

export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  if (options.port !== undefined) return startOn(options, options.port)
  // A free port may be taken between the probe and redis-server's bind (tests run in parallel).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(options, await freePort())
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/i.test(String(err))) throw err
    }
  }
}

async function startOn(options: LocalRedisOptions, port: number): Promise<LocalRedis> {
  mkdirSync(options.dir, { recursive: true })
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir],
    ...['--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''],
    ...['--maxclients', String(options.maxClients ?? 10_000)],
  ]
  const child: ChildProcess = spawn(options.binary ?? 'redis-server', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // Our redis-server dies with us, however we exit (a SIGKILL aside: nothing runs then).
  const killOnExit = (): void => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM')
  }
  process.once('exit', killOnExit)
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.removeListener('exit', killOnExit)
      resolve()
    }),
  )
  let spawnError: Error | null = null
  child.once('error', (err) => {
    spawnError = new Error(`cannot run redis-server (apt-get install -y redis-server): ${err.message}`, {
      cause: err,
    })
  })

  let stopping: Promise<void> | null = null
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      if (!isRunning() || child.pid === undefined) return
      process.kill(child.pid, 'SIGTERM')
      const timer = setTimeout(() => {
        if (isRunning() && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(timer)
    })()
    return stopping
  }

  const deadline = Date.now() + 20_000
  for (;;) {
    if (spawnError !== null) throw spawnError
    if (!isRunning()) throw new Error(`redis-server exited (${child.exitCode}): ${output}`)
    if (await answersAs(port, child.pid)) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`redis-server did not answer on port ${port} within 20 s: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop, isRunning }
}
