import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createHotCounter } from './hot-counter.ts'

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
