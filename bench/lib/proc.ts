/**
 * What the benchmark reads about processes and the machine, from /proc (Linux): CPU seconds, resident
 * and peak resident memory of any process by PID (the platform, influxd, mosquitto, the generators),
 * the load average, and the machine's description for the report.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

const CLOCK_TICKS_PER_S = 100

/** CPU seconds (user + system) a process has used so far; null once it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    // The command may hold spaces and parentheses: fields are counted after its closing ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command; in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S
  } catch {
    return null
  }
}

export type Memory = { rssMiB: number; peakRssMiB: number }

/** Resident memory now (VmRSS) and its peak since the process started (VmHWM); null once it is gone. */
export function memory(pid: number | undefined): Memory | null {
  if (pid === undefined) return null
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (name: string): number =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
    return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 }
  } catch {
    return null
  }
}

/** Open file descriptors of a process (sockets included); null once it is gone. */
export function openFiles(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}

/** The first process whose command line contains every one of `parts` (for servers a runner started). */
export function findPid(...parts: string[]): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (parts.every((p) => cmdline.includes(p))) return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  return undefined
}

export function loadAverage(): [number, number, number] {
  try {
    const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number)
    return [a ?? 0, b ?? 0, c ?? 0]
  } catch {
    return [0, 0, 0]
  }
}

/** Soft and hard limit on open files of a process (RLIMIT_NOFILE). */
export function fileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/).map(Number)
    return { soft: soft ?? 0, hard: hard ?? 0 }
  } catch {
    return { soft: 0, hard: 0 }
  }
}

export function ephemeralPorts(): { from: number; to: number } {
  try {
    const [from, to] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)
    return { from: Number(from), to: Number(to) }
  } catch {
    return { from: 32768, to: 60999 }
  }
}

export type Machine = {
  cpu: string
  cores: number
  memoryGiB: number
  kernel: string
  node: string
  openFiles: { soft: number; hard: number }
  ephemeralPorts: { from: number; to: number }
}

export function machine(): Machine {
  let kernel = ''
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  } catch {
    kernel = 'unknown'
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel,
    node: process.version,
    openFiles: fileLimits(),
    ephemeralPorts: ephemeralPorts(),
  }
}

/**
 * Watches processes while a phase runs: CPU seconds used between `mark()` and `read()`, and peak RSS.
 * Processes that exit meanwhile keep their last sample (the sampler runs every `everyMs`).
 */
export function createProcessWatch(everyMs = 250) {
  type Entry = { pid: number | undefined; cpu0: number; cpuLast: number; peakRssMiB: number; rssMiB: number }
  const entries = new Map<string, Entry>()
  const sample = (e: Entry): void => {
    const cpu = cpuSeconds(e.pid)
    if (cpu !== null) e.cpuLast = cpu
    const mem = memory(e.pid)
    if (mem) {
      e.rssMiB = mem.rssMiB
      e.peakRssMiB = Math.max(e.peakRssMiB, mem.peakRssMiB)
    }
  }
  const timer = setInterval(() => {
    for (const e of entries.values()) sample(e)
  }, everyMs)
  timer.unref()
  return {
    /** Starts counting CPU of `name` from now (again, if it was watched already). */
    mark(name: string, pid: number | undefined): void {
      const cpu = cpuSeconds(pid) ?? 0
      const previous = entries.get(name)
      const e: Entry = {
        pid,
        cpu0: cpu,
        cpuLast: cpu,
        peakRssMiB: previous !== undefined && previous.pid === pid ? previous.peakRssMiB : 0,
        rssMiB: 0,
      }
      entries.set(name, e)
      sample(e)
    },
    read(name: string): { cpuS: number; peakRssMiB: number; rssMiB: number } | null {
      const e = entries.get(name)
      if (!e) return null
      sample(e)
      return { cpuS: e.cpuLast - e.cpu0, peakRssMiB: e.peakRssMiB, rssMiB: e.rssMiB }
    },
    stop(): void {
      clearInterval(timer)
    },
  }
}

export type CpuWindow = { s: number; load1: number; cpuPct: Record<string, number> }

/**
 * CPU share of each named process per window (100 = one core), with the load average: shows whether a
 * slow stretch of a run was the platform busy, InfluxDB busy, or the machine busy with something else.
 */
export function createCpuTimeline(pids: Record<string, number | undefined>, windowMs: number) {
  const windows: CpuWindow[] = []
  let last = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) ?? 0]))
  let lastAt = performance.now()
  const started = lastAt
  const timer = setInterval(() => {
    const now = performance.now()
    const wallS = (now - lastAt) / 1000
    const current = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) ?? 0]),
    )
    const cpuPct: Record<string, number> = {}
    for (const name of Object.keys(pids)) {
      cpuPct[name] = wallS > 0 ? (((current[name] ?? 0) - (last[name] ?? 0)) / wallS) * 100 : 0
    }
    windows.push({ s: Math.round((now - started) / 1000), load1: loadAverage()[0], cpuPct })
    last = current
    lastAt = now
  }, windowMs)
  timer.unref()
  return {
    windows: (): CpuWindow[] => [...windows],
    stop: (): void => clearInterval(timer),
  }
}

/** `s: name% … load` per window, one line. */
export function cpuTimelineText(windows: CpuWindow[]): string {
  return windows
    .map(
      (w) =>
        `${w.s}s: ${Object.entries(w.cpuPct)
          .map(([name, pct]) => `${name} ${Math.round(pct)}%`)
          .join(' ')} load ${w.load1.toFixed(1)}`,
    )
    .join('; ')
}
