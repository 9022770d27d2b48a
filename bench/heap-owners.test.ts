/**
 * bench/heap-owners.ts on a real heap snapshot: a small Node process holds 500 "devices" in a
 * closure's `contextCache` and writes its snapshot; the tool must give those 500 their objects, per
 * device, under the variable's name.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'

const ROOT = join(import.meta.dirname, '..')

// Each device: the context, its device, site and tenant objects, and the id string.
const HOLDER = `
const { writeHeapSnapshot } = require('node:v8')
function registry() {
  const contextCache = new Map()
  for (let i = 0; i < 500; i++) {
    const id = ['dev', String(i)].join('-')
    contextCache.set(id, { device: { id }, site: { n: i }, tenant: { n: i } })
  }
  return () => contextCache.size
}
globalThis.keep = registry()
writeHeapSnapshot(process.argv[1])
`

describe('bench/heap-owners.ts', () => {
  it("attributes a closure's per-device map to its variable, per device", () => {
    const dir = mkdtempSync(join(tmpdir(), 'heap-owners-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'holder.heapsnapshot')
    execFileSync(process.execPath, ['-e', HOLDER, file])
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'heap-owners.ts'), file, '--devices', '500'],
      { cwd: ROOT, encoding: 'utf8' },
    )
    const row = out.split('\n').find((line) => line.startsWith('| scope variable contextCache |'))
    expect(row, out).toBeDefined()
    const perDevice = Number(row?.split('|')[3])
    // 4 objects and a string per device, plus the map's own table(s).
    expect(perDevice).toBeGreaterThanOrEqual(5)
    expect(perDevice).toBeLessThan(7)
    expect(out).toMatch(/objects in the snapshot, [\d.]+ per device \(500\)/)
  })
})
