import { describe, expect, it, onTestFinished } from 'vitest'
import { createProcessSampler, openFilesLimit, parseOpenFilesLimit } from './process-figures.ts'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             96365                96365                processes
Max open files            20000                65536                files
Max locked memory         8388608              8388608              bytes
`

/** Keeps the event loop busy for `ms` (what a saturated platform does). */
function spin(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy
  }
}

describe('process figures', () => {
  it('reads the soft open-files limit, and nothing from a text without one or an unlimited one', () => {
    expect(parseOpenFilesLimit(LIMITS)).toBe(20_000)
    expect(parseOpenFilesLimit('Limit  Soft Limit\nMax processes 10 10 processes\n')).toBeNull()
    expect(
      parseOpenFilesLimit('Max open files            unlimited            unlimited            files'),
    ).toBeNull()
    expect(parseOpenFilesLimit('')).toBeNull()
  })

  it("reads this process's own limit on Linux", () => {
    if (process.platform === 'linux') expect(openFilesLimit()).toBeGreaterThan(0)
  })

  it('tells a busy event loop from an idle one, and counts open files and memory', async () => {
    const sampler = createProcessSampler()
    onTestFinished(() => sampler.stop())
    sampler.take()
    // Busy: 200 ms of work in 4 turns of the loop.
    for (let i = 0; i < 4; i++) {
      spin(50)
      await new Promise((resolve) => setImmediate(resolve))
    }
    const busy = sampler.take()
    // Idle: 200 ms asleep.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const idle = sampler.take()

    expect(busy.eventLoopUtilization).toBeGreaterThan(0.8)
    expect(idle.eventLoopUtilization).toBeLessThan(0.5)
    expect(busy.eventLoopUtilization).toBeLessThanOrEqual(1)
    // A 50 ms block delays the loop by about as much.
    expect(busy.eventLoopDelayP99Ms).toBeGreaterThan(30)
    expect(idle.eventLoopDelayP99Ms).toBeLessThan(busy.eventLoopDelayP99Ms)
    if (process.platform === 'linux') {
      expect(idle.openFiles).toBeGreaterThan(2)
      expect(idle.openFilesLimit).toBeGreaterThanOrEqual(idle.openFiles ?? 0)
    }
    expect(idle.rssMiB).toBeGreaterThan(idle.heapUsedMiB)
    expect(idle.heapUsedMiB).toBeGreaterThan(1)
  })
})
