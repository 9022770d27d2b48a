import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createHotCounter, createHotHistogram } from './hot-metrics.ts'

describe('createHotCounter', () => {
  it('counts in plain numbers and shows the totals, every value from 0, at each scrape', async () => {
    const registry = new Registry()
    const hot = createHotCounter({
      name: 'messages_total',
      help: 'Messages by type',
      labelName: 'type',
      values: ['status', 'event'] as const,
      registers: [registry],
    })
    expect(await registry.metrics()).toContain('messages_total{type="event"} 0')
    for (let i = 0; i < 3; i++) hot.inc('status')
    hot.inc('event')
    const first = await registry.metrics()
    expect(first).toContain('messages_total{type="status"} 3')
    expect(first).toContain('messages_total{type="event"} 1')
    // A second scrape shows the same totals, not the totals added twice.
    hot.inc('status')
    const second = await registry.metrics()
    expect(second).toContain('messages_total{type="status"} 4')
    expect(second).toContain('messages_total{type="event"} 1')
    const { values } = await hot.counter.get()
    expect(values.map((v) => [v.labels.type, v.value])).toEqual([
      ['status', 4],
      ['event', 1],
    ])
  })
})

describe('createHotHistogram', () => {
  it("is exposed exactly as prom-client's Histogram exposes the same observations", async () => {
    const hotRegistry = new Registry()
    const referenceRegistry = new Registry()
    const config = { name: 'sink_seconds', help: 'Time to take a message', buckets: [0.001, 0.01, 0.1, 1] }
    const hot = createHotHistogram({ ...config, registers: [hotRegistry] })
    const reference = new Histogram({ ...config, registers: [referenceRegistry] })
    expect(await hotRegistry.metrics()).toBe(await referenceRegistry.metrics())
    for (const value of [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 12.5]) {
      hot.observe(value)
      reference.observe(value)
    }
    const exposed = await hotRegistry.metrics()
    expect(exposed).toBe(await referenceRegistry.metrics())
    expect(exposed).toContain('sink_seconds_bucket{le="0.01"} 4')
    expect(exposed).toContain('sink_seconds_count 9')
    // As JSON (what an AggregatorRegistry merges): the same metric, values and labels.
    const asJson = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).map(({ name, help, type, aggregator, values }) => ({
        ...{ name, help, type, aggregator },
        values: values.map(
          ({ value, labels, metricName }: { value: number; labels: object; metricName?: string }) => ({
            ...{ value, labels, metricName },
          }),
        ),
      }))
    expect(await asJson(hotRegistry)).toEqual(await asJson(referenceRegistry))
  })

  it('ignores a value that is not a finite number rather than poisoning the sum', async () => {
    const registry = new Registry()
    const hot = createHotHistogram({ name: 'h', help: 'h', buckets: [1], registers: [registry] })
    hot.observe(Number.NaN)
    hot.observe(Number.POSITIVE_INFINITY)
    hot.observe(0.5)
    const exposed = await registry.metrics()
    expect(exposed).toContain('h_sum 0.5')
    expect(exposed).toContain('h_count 1')
  })
})
