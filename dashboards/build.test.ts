import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { DASHBOARDS } from './dashboards.ts'
import { checkProvisioning, writeProvisioning } from './provisioning.ts'

describe('dashboards/provisioning', () => {
  it('is up to date with the TypeScript source (run `npm run dashboards` and commit the JSON)', () => {
    const problems = checkProvisioning(fileURLToPath(new URL('./provisioning/', import.meta.url)))
    expect(problems).toEqual([])
  })

  it('the check names a changed, a missing and a stray file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboards-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    writeProvisioning(dir)
    expect(checkProvisioning(dir)).toEqual([])
    const [first, second] = DASHBOARDS
    if (!first || !second) throw new Error('expected dashboards')
    writeFileSync(
      join(dir, first.file),
      readFileSync(join(dir, first.file), 'utf8').replace('"title"', '"titel"'),
    )
    rmSync(join(dir, second.file))
    writeFileSync(join(dir, 'old.json'), '{}')
    expect(checkProvisioning(dir)).toEqual([
      { file: first.file, reason: 'differs' },
      { file: second.file, reason: 'missing' },
      { file: 'old.json', reason: 'not generated' },
    ])
  })

  it('every dashboard has a unique uid, uses only the provisioned datasource and numbers its panels', () => {
    const uids = new Set<string>()
    for (const source of DASHBOARDS) {
      const text = readFileSync(new URL(`./provisioning/${source.file}`, import.meta.url), 'utf8')
      const json: { uid?: string; panels?: Array<{ id?: number }> } = JSON.parse(text)
      expect(json.uid).toBeTruthy()
      uids.add(json.uid ?? '')
      const refs = [...text.matchAll(/"uid": "([^"]+)"/g)].map((m) => m[1]).filter((u) => u !== json.uid)
      expect(new Set(refs)).toEqual(new Set(['liftscale-influxdb']))
      expect(json.panels?.map((p) => p.id)).toEqual(json.panels?.map((_, i) => i + 1))
    }
    expect(uids.size).toBe(DASHBOARDS.length)
  })
})
