import { describe, expect, it } from 'vitest'
import { createRng } from './random.ts'

describe('createRng', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number | string) => {
      const rng = createRng(seed)
      return Array.from({ length: 20 }, () => rng.next())
    }
    expect(draw(42)).toEqual(draw(42))
    expect(draw(42)).toEqual(draw('42'))
    expect(draw(42)).not.toEqual(draw(43))
  })

  it('forks independent streams: drawing from one fork does not shift another', () => {
    const a = createRng(7)
    const b = createRng(7)
    const first = a.fork('device-1')
    a.fork('device-2').next()
    for (let i = 0; i < 100; i++) a.next()
    const again = b.fork('device-1')
    expect(Array.from({ length: 10 }, () => first.next())).toEqual(
      Array.from({ length: 10 }, () => again.next()),
    )
  })

  it('draws from the documented ranges and means', () => {
    const rng = createRng('dist')
    const n = 20_000
    let sumU = 0
    let sumExp = 0
    let sumNormal = 0
    for (let i = 0; i < n; i++) {
      const u = rng.uniform(2, 5)
      expect(u).toBeGreaterThanOrEqual(2)
      expect(u).toBeLessThan(5)
      const k = rng.int(1, 6)
      expect(Number.isInteger(k) && k >= 1 && k <= 6).toBe(true)
      sumU += u
      sumExp += rng.exponential(10)
      sumNormal += rng.normal(3, 1)
    }
    expect(sumU / n).toBeCloseTo(3.5, 1)
    expect(sumExp / n).toBeGreaterThan(9.5)
    expect(sumExp / n).toBeLessThan(10.5)
    expect(sumNormal / n).toBeCloseTo(3, 1)
  })

  it('picks by weight', () => {
    const rng = createRng(1)
    const counts = { a: 0, b: 0, c: 0 }
    for (let i = 0; i < 10_000; i++) counts[rng.weighted({ a: 1, b: 3, c: 0 })]++
    expect(counts.c).toBe(0)
    expect(counts.b / counts.a).toBeGreaterThan(2.6)
    expect(counts.b / counts.a).toBeLessThan(3.4)
  })
})
