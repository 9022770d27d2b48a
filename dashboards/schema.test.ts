import { describe, expect, it } from 'vitest'
import { UPLINK, UPLINK_TYPES } from '../domain/topics.ts'
import { READING_FIELDS } from '../ingest/line-protocol.ts'
import { MEASUREMENTS } from './schema.ts'

describe('the schema the dashboards read', () => {
  it('has exactly the fields ingest writes for every reading measurement', () => {
    for (const type of UPLINK_TYPES) {
      const specs = READING_FIELDS[type]
      const measurement = UPLINK[type].measurement
      const expected = [...specs.map((s) => s.field), 'seq', 'received_at'].sort()
      expect(Object.keys(MEASUREMENTS[measurement].fields).sort(), measurement).toEqual(expected)
    }
  })
})
