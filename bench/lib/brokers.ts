/**
 * The reference brokers of the throughput profile, each in its own process so that its CPU and memory
 * are measured like the platform's: raw Aedes (the library the platform's broker is built on, with
 * nothing of the platform around it) and Mosquitto (a C broker, when installed).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { accessSync, constants, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort } from '../../platform/local-influxd.ts'

export type BrokerProcess = {
  name: string
  pid: number | undefined
  url: string
  stop(): Promise<void>
}

function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve()
  process.kill(child.pid, 'SIGTERM')
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
  }, 10_000)
  return exited.finally(() => clearTimeout(timer))
}

function exitOf(child: ChildProcess): Promise<void> {
  const killOnExit = (): void => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
  }
  process.once('exit', killOnExit)
  return new Promise((resolve) =>
    child.once('exit', () => {
      process.removeListener('exit', killOnExit)
      resolve()
    }),
  )
}

export async function startAedesProcess(): Promise<BrokerProcess> {
  const child = fork(new URL('./aedes-child.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = exitOf(child)
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { type: string; port: number }) => resolve(m.port))
    child.once('exit', (code) => reject(new Error(`aedes exited (${code}) before it listened`)))
  })
  return {
    name: 'aedes',
    pid: child.pid,
    url: `mqtt://127.0.0.1:${port}`,
    stop: () => stopChild(child, exited),
  }
}

/** Mosquitto's binary, or null when it is not installed (Debian puts it in /usr/sbin). */
export function findMosquitto(): string | null {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return null
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Mosquitto on 127.0.0.1 with a throwaway config: anonymous, no persistence, no log file. */
export async function startMosquitto(binary: string, dir: string): Promise<BrokerProcess> {
  const port = await freePort()
  const config = join(dir, 'mosquitto.conf')
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest none',
      // Like Aedes: no cap on QoS 1 messages in flight per client (mosquitto's default is 20).
      'max_inflight_messages 0',
      '',
    ].join('\n'),
  )
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000)
  })
  const exited = exitOf(child)
  const deadline = Date.now() + 10_000
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${stderr}`)
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    name: 'mosquitto',
    pid: child.pid,
    url: `mqtt://127.0.0.1:${port}`,
    stop: () => stopChild(child, exited),
  }
}
