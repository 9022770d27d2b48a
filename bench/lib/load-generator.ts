/**
 * Load generator: simulated devices publishing protocol v1 readings at QoS 1 from a SEPARATE process
 * (so the generator does not share the event loop of what it measures). Used by `npm run bench:ingest`,
 * the end-to-end benchmark and the ingest integration tests.
 *
 *   const load = startLoad({ url, devices, messagesPerDevice: 100, inflightPerDevice: 10 })
 *   await load.ready          // every device connected
 *   load.go()                 // start publishing
 *   const result = await load.done
 */
import { type ChildProcess, fork } from 'node:child_process'
import type { LoadOptions, LoadResult, LoadToChild, LoadToParent } from './load-types.ts'

export type { DeviceResult, LoadDevice, LoadOptions, LoadResult } from './load-types.ts'

export type LoadRun = {
  /** Resolves when every device is connected and waits for `go()`. */
  ready: Promise<void>
  go(): void
  done: Promise<LoadResult>
  /** Acknowledged so far (updated four times a second). */
  acked(): number
  published(): number
  /** Kills the generator process (its devices vanish without DISCONNECT). */
  kill(): void
  pid: number | undefined
}

export function startLoad(options: LoadOptions): LoadRun {
  const child: ChildProcess = fork(new URL('./load-child.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let acked = 0
  let published = 0
  let onReady: () => void = () => undefined
  let onReadyFail: (err: Error) => void = () => undefined
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onReadyFail = reject
  })
  const done = new Promise<LoadResult>((resolve, reject) => {
    let isSettled = false
    child.on('message', (m: LoadToParent) => {
      if (m.type === 'ready') onReady()
      else if (m.type === 'progress') {
        acked = m.acked
        published = m.published
      } else if (m.type === 'done') {
        isSettled = true
        acked = m.result.ackedTotal
        published = m.result.publishedTotal
        resolve(m.result)
      } else if (m.type === 'failed') {
        isSettled = true
        const err = new Error(`load generator: ${m.error}`)
        onReadyFail(err)
        reject(err)
      }
    })
    // 'close', not 'exit': a large last message may still be on its way when the process has exited.
    child.once('close', (code, signal) => {
      if (isSettled) return
      const err = new Error(`load generator exited (${code ?? signal}) before it finished`)
      onReadyFail(err)
      reject(err)
    })
  })
  ready.catch(() => undefined)
  done.catch(() => undefined)
  const message: LoadToChild = { type: 'start', options }
  child.send(message)
  return {
    ready,
    go: () => {
      const go: LoadToChild = { type: 'go' }
      child.send(go)
    },
    done,
    acked: () => acked,
    published: () => published,
    kill: () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    },
    pid: child.pid,
  }
}

/** Connects, publishes everything, and returns the result. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const run = startLoad(options)
  await run.ready
  run.go()
  return run.done
}
