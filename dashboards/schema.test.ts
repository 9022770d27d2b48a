import { describe, expect, it } from 'vitest'
import { UPLINK } from '../domain/topics.ts'
import { READING_FIELDS } from '../ingest/line-protocol.ts'
import { MEASUREMENTS } from './schema.ts'

describe('the schema the dashboards read', () => {
  it('has exactly the fields ingest writes for every reading measurement', () => {
    for (const [type, specs] of Object.entries(READING_FIELDS)) {
      const measurement = UPLINK[type as keyof typeof UPLINK].measurement
      const expected = [...specs.map((s) => s.field), 'seq', 'received_at'].sort()
      expect(Object.keys(MEASUREMENTS[measurement].fields).sort(), measurement).toEqual(expected)
    }
  })
})
