import { describe, expect, it } from 'vitest'
import { decodeMessage } from '../../domain/reading.ts'
import { INVALID_KINDS, loadMessage } from './payloads.ts'

const TS = 1_764_000_000_000

describe('the load generator’s payloads', () => {
  it.each(['elevator', 'scale'] as const)(
    'every %s message is a reading the platform decodes, with its seq and ts, of every type in turn',
    (kind) => {
      const device = { id: kind === 'elevator' ? 'EL-000007' : 'SC-000007', kind, index: 7 }
      const types = new Set<string>()
      for (let seq = 0; seq < 500; seq++) {
        const message = loadMessage(device, seq, TS + seq)
        expect(message.invalid).toBeNull()
        const decoded = decodeMessage(message.topic, Buffer.from(message.payload), TS, device.id)
        if (!decoded.ok) throw new Error(`seq ${seq}: ${decoded.rejection.message}`)
        expect(decoded.reading.type).toBe(message.type)
        expect(decoded.reading.data).toMatchObject({ seq, ts: TS + seq })
        types.add(message.type)
      }
      expect(types.size).toBe(kind === 'elevator' ? 2 : 3)
    },
  )

  it('a requested share of refused payloads is refused for the reason it is labelled with', () => {
    const device = { id: 'EL-000001', kind: 'elevator' as const, index: 1 }
    const reasons = new Map<string, number>()
    for (let seq = 0; seq < 1000; seq++) {
      const message = loadMessage(device, seq, TS + seq, 0.3)
      const decoded = decodeMessage(message.topic, Buffer.from(message.payload), TS, device.id)
      if (message.invalid === null) {
        expect(decoded.ok).toBe(true)
        continue
      }
      expect(decoded.ok ? null : decoded.rejection.reason).toBe(message.invalid)
      reasons.set(message.invalid, (reasons.get(message.invalid) ?? 0) + 1)
    }
    expect([...reasons.keys()].sort()).toEqual([...INVALID_KINDS].sort())
    const refused = [...reasons.values()].reduce((a, b) => a + b, 0)
    expect(refused).toBeGreaterThan(200)
    expect(refused).toBeLessThan(400)
  })
})
