import { describe, expect, it } from 'vitest'
import { addMonths, daysBetween, shanghaiDate, shanghaiMidnight, validUntil } from './dates.ts'

describe('dates', () => {
  it('reads instants on the Shanghai calendar', () => {
    // 2025-03-14 16:30 UTC is already 00:30 on the 15th in Wuhan
    expect(shanghaiDate(Date.parse('2025-03-14T16:30:00Z'))).toBe('2025-03-15')
    expect(shanghaiMidnight('2025-03-15')).toBe(Date.parse('2025-03-14T16:00:00Z'))
  })
  it('adds months clamping to month ends', () => {
    expect(addMonths('2025-01-31', 1)).toBe('2025-02-28')
    expect(addMonths('2024-02-29', 12)).toBe('2025-02-28')
    expect(addMonths('2025-11-15', 3)).toBe('2026-02-15')
  })
  it('gives a 12-month certificate its last valid day', () => {
    expect(validUntil('2025-03-15', 12)).toBe('2026-03-14')
    expect(daysBetween('2025-03-15', '2026-03-14')).toBe(364)
  })
})
