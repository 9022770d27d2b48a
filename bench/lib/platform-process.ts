/**
 * The platform as the benchmark measures it: `platform/main.ts` (what `npm start` runs) in its own
 * Node process, configured through its environment, so its CPU and memory are its own. With
 * `cpuProfDir` it runs under `node --cpu-prof` and writes a .cpuprofile there when it stops.
 * `script` and `readyText` start one service of a split deployment the same way (broker/main.ts,
 * ingest/main.ts, alerts/main.ts): ready once it has written `readyText`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

export type PlatformProcess = {
  pid: number | undefined
  mqttUrl: string
  /** SIGTERM (the platform flushes and exits), SIGKILL after `timeoutMs`; safe twice. */
  stop(timeoutMs?: number): Promise<void>
  /** The last lines it wrote (logs at LOG_LEVEL, errors). */
  output(): string
  isRunning(): boolean
}

const ROOT = join(import.meta.dirname, '..', '..')

export async function startPlatformProcess(options: {
  env: Record<string, string>
  mqttPort: number
  cpuProfDir?: string
  /** More Node options (--heapsnapshot-signal=SIGUSR2, --max-old-space-size=…). */
  nodeArgs?: string[]
  startTimeoutMs?: number
  /** Entry point under the repository root (default platform/main.ts). */
  script?: string
  /** What it writes once it serves (default the platform's "liftscale running"). */
  readyText?: string
}): Promise<PlatformProcess> {
  const script = options.script ?? join('platform', 'main.ts')
  const readyText = options.readyText ?? 'liftscale running'
  const execArgv = [...(options.nodeArgs ?? []), '--import', 'tsx']
  if (options.cpuProfDir) execArgv.unshift('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`)
  const child: ChildProcess = spawn(process.execPath, [...execArgv, join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env, MQTT_PORT: String(options.mqttPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let tail = ''
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-8000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // The platform dies with the benchmark, however it ends (SIGKILL aside).
  const killOnExit = (): void => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    try {
      process.kill(child.pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
  process.once('exit', killOnExit)
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.removeListener('exit', killOnExit)
      resolve()
    }),
  )

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`${script} did not start within ${options.startTimeoutMs ?? 60_000} ms:\n${tail}`)),
      options.startTimeoutMs ?? 60_000,
    )
    const onData = (chunk: Buffer): void => {
      if (!chunk.toString().includes(readyText)) return
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      resolve()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited (${code ?? signal}) before it started:\n${tail}`))
    })
  })

  let stopping: Promise<void> | null = null
  return {
    pid: child.pid,
    mqttUrl: `mqtt://127.0.0.1:${options.mqttPort}`,
    stop(timeoutMs = 60_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
        try {
          process.kill(child.pid, 'SIGTERM')
        } catch {
          // Gone already (it died on its own: see output()).
          return
        }
        const timer = setTimeout(killOnExit, timeoutMs)
        await exited
        clearTimeout(timer)
      })()
      return stopping
    },
    output: () => tail,
    isRunning: () => child.exitCode === null && child.signalCode === null,
  }
}
