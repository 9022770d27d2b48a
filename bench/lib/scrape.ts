/**
 * The platform's own view of a run, from its Prometheus endpoint (GET /metrics, open by default):
 * read before and after the measured window, the differences say how many writes went to InfluxDB,
 * how big they were and how long they took, and how long the broker waited for ingest per message.
 */
export type Scrape = Map<string, number>

/** Every sample of the text format, keyed by `name{labels}` as written. */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const out: Scrape = new Map()
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text()
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      const value = Number(line.slice(space + 1))
      if (Number.isFinite(value)) out.set(line.slice(0, space), value)
    }
  } catch {
    // A platform too busy to answer in 10 s says so by the missing figures.
  }
  return out
}

/** Sum over every label set of `name` (that has `label` among its labels), after minus before. */
function delta(a: Scrape, b: Scrape, name: string, label = ''): number {
  let sum = 0
  for (const [key, value] of b) {
    const isIt = key === name || (key.startsWith(`${name}{`) && key.includes(label))
    if (isIt) sum += value - (a.get(key) ?? 0)
  }
  return sum
}

/** What happened between two scrapes, in one line for the report. */
export function describeWindow(
  before: Scrape,
  after: Scrape,
  /** Scraped before the load stopped: the event loop's lag then excludes the generators' disconnect. */
  loadEnd: Scrape = after,
): { text: string; figures: Record<string, number> } {
  const writes = delta(before, after, 'ingest_write_seconds_count')
  const writeS = delta(before, after, 'ingest_write_seconds_sum')
  const batches = delta(before, after, 'ingest_batch_size_count')
  const lines = delta(before, after, 'ingest_batch_size_sum')
  const sinks = delta(before, after, 'mqtt_device_sink_seconds_count')
  const sinkS = delta(before, after, 'mqtt_device_sink_seconds_sum')
  const spooled = delta(before, after, 'ingest_spooled_total')
  // Writes slower than 1 s: the histogram's buckets up to 1 s, subtracted from the count.
  const fast = delta(before, after, 'ingest_write_seconds_bucket', 'le="1"')
  // Main-thread pauses of the garbage collector (prom-client's default metrics, from perf_hooks).
  const gcS = delta(before, after, 'nodejs_gc_duration_seconds_sum')
  const gcCount = delta(before, after, 'nodejs_gc_duration_seconds_count')
  const gcOver = (le: string) =>
    gcCount - delta(before, after, 'nodejs_gc_duration_seconds_bucket', `le="${le}"`)
  const majorS = delta(before, after, 'nodejs_gc_duration_seconds_sum', 'kind="major"')
  const figures = {
    slowWrites: writes - fast,
    influxWrites: writes,
    linesPerWrite: batches > 0 ? lines / batches : 0,
    msPerWrite: writes > 0 ? (writeS / writes) * 1000 : 0,
    sinkMsPerMessage: sinks > 0 ? (sinkS / sinks) * 1000 : 0,
    spooled,
    gcPauseS: gcS,
    gcMajorPauseS: majorS,
    gcPausesOver100Ms: gcOver('0.1'),
    gcPausesOver1S: gcOver('1'),
    // Reset by every scrape: the longest the event loop was late between `before` and `loadEnd`
    // (closing 20,000 connections at the end alone holds it 1.3-1.7 s).
    eventLoopLagMaxMs: (loadEnd.get('nodejs_eventloop_lag_max_seconds') ?? 0) * 1000,
  }
  return {
    text:
      `platform metrics: ${writes} InfluxDB writes, ${figures.linesPerWrite.toFixed(0)} lines and ` +
      `${figures.msPerWrite.toFixed(0)} ms per write (${figures.slowWrites} over 1 s); broker waited ${figures.sinkMsPerMessage.toFixed(1)} ms ` +
      `per message for ingest; ${spooled} lines spooled; garbage collection paused it ${gcS.toFixed(1)} s ` +
      `(major ${majorS.toFixed(1)} s; ${figures.gcPausesOver100Ms} pauses over 100 ms, ${figures.gcPausesOver1S} over 1 s), ` +
      `event loop late by ${figures.eventLoopLagMaxMs.toFixed(0)} ms at most`,
    figures,
  }
}
