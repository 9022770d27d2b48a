import { describe, expect, it } from 'vitest'
import { LineBatch } from './line-batch.ts'

/** Lines of every width: ASCII, two- and three-byte characters, surrogate pairs, and long ones. */
function sampleLines(n: number): string[] {
  const pieces = [
    'elevator_status,device_id=el-1 floor=3i',
    '桥口区,site=汉正街',
    'é',
    '🛗',
    'x'.repeat(40_000),
    '',
  ]
  return Array.from({ length: n }, (_, i) => `m${i} ${pieces[i % pieces.length]}${'ß'.repeat(i % 7)}`)
}

function batchOf(lines: readonly string[]): LineBatch {
  const batch = new LineBatch()
  for (const line of lines) batch.push(line)
  return batch
}

describe('LineBatch', () => {
  it('holds the request body of its lines: each line in UTF-8, ended by a line break', () => {
    for (const n of [0, 1, 2, 17, 300, 3000]) {
      const lines = sampleLines(n)
      const batch = batchOf(lines)
      expect(batch.length).toBe(n)
      expect(batch.body().equals(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'))).toBe(true)
      expect(batch.toLines()).toEqual(lines)
    }
  })

  it('counts the lines pushed as counted apart from the others', () => {
    const batch = new LineBatch()
    batch.push('a')
    batch.push('platform_ingest x=1i', false)
    batch.push('b', true)
    expect([batch.length, batch.counted]).toEqual([3, 2])
  })

  it('joins batches in order, with their counts, and takes lines after', () => {
    const a = batchOf(sampleLines(50))
    const b = new LineBatch()
    b.push('health', false)
    const c = batchOf(['z'])
    const joined = LineBatch.concat([a, b, c])
    expect(joined.toLines()).toEqual([...sampleLines(50), 'health', 'z'])
    expect([joined.length, joined.counted]).toEqual([52, 51])
    joined.push('after')
    expect(joined.toLines().at(-1)).toBe('after')
    expect(LineBatch.concat([]).toLines()).toEqual([])
  })
})
