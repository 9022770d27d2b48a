/**
 * How close this process is to its limits, sampled once per health interval: the share of time its
 * one event loop was busy (broker, ingest and the alerts engine share it in the all-in-one platform,
 * so it is what runs out first: docs/benchmarks.md, "Sizing a node"), the loop's delay, its open
 * files against the limit (one per device connection) and its memory.
 */
import { readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

/** The soft "Max open files" of a /proc/<pid>/limits text; null when absent or unlimited. */
export function parseOpenFilesLimit(limitsText: string): number | null {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'))
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
  if (soft === undefined || !/^\d+$/.test(soft)) return null
  return Number(soft)
}

/** This process's open-files limit (Linux); null where /proc does not say. */
export function openFilesLimit(): number | null {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'))
  } catch {
    return null
  }
}

export type ProcessFigures = {
  /** Share of the interval the event loop was busy, 0 to 1. */
  eventLoopUtilization: number
  /** 99th percentile of the event loop's delay over the interval, ms. */
  eventLoopDelayP99Ms: number
  /** Open descriptors, counted at the previous sample (null where /proc/self/fd is not there). */
  openFiles: number | null
  openFilesLimit: number | null
  rssMiB: number
  heapUsedMiB: number
}

export type ProcessSampler = {
  /** Figures since the previous call (or since the sampler was made). */
  take(): ProcessFigures
  stop(): void
}

const MIB = 1024 * 1024

export function createProcessSampler(): ProcessSampler {
  let lastElu = performance.eventLoopUtilization()
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const limit = openFilesLimit()
  let openFiles: number | null = null
  // Listing 20,000 descriptors takes milliseconds: off the event loop, one sample late.
  const countOpenFiles = (): void => {
    readdir('/proc/self/fd').then(
      (entries) => {
        openFiles = entries.length
      },
      () => {
        openFiles = null
      },
    )
  }
  countOpenFiles()
  return {
    take(): ProcessFigures {
      const elu = performance.eventLoopUtilization()
      const utilization = performance.eventLoopUtilization(elu, lastElu).utilization
      lastElu = elu
      const p99 = delay.count > 0 ? delay.percentile(99) / 1e6 : 0
      delay.reset()
      const memory = process.memoryUsage()
      const figures: ProcessFigures = {
        eventLoopUtilization: utilization,
        eventLoopDelayP99Ms: p99,
        openFiles,
        openFilesLimit: limit,
        rssMiB: memory.rss / MIB,
        heapUsedMiB: memory.heapUsed / MIB,
      }
      countOpenFiles()
      return figures
    },
    stop(): void {
      delay.disable()
    },
  }
}
