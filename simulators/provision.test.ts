import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { shanghaiDate } from '../domain/dates.ts'
import { SITE_CATEGORIES } from '../domain/registry-types.ts'
import { createRegistry } from '../registry/registry.ts'
import { defaultCredentialsFile, loadCredentialsFile, provisionFleet } from './provision.ts'

function temp() {
  const dir = mkdtempSync(join(tmpdir(), 'provision-'))
  const registry = createRegistry({ file: join(dir, 'registry.db'), scrypt: { N: 16, r: 1, p: 1 } })
  onTestFinished(() => {
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, registry, credentialsFile: defaultCredentialsFile(dir) }
}

describe('provisionFleet', () => {
  it('registers a plausible fleet and keeps working secrets in a private file', async () => {
    const { registry, credentialsFile } = temp()
    const now = Date.UTC(2025, 5, 1)
    const specs = await provisionFleet(registry, {
      elevators: 200,
      scales: 300,
      seed: 42,
      credentialsFile,
      now,
    })
    expect(specs.filter((s) => s.kind === 'elevator')).toHaveLength(200)
    expect(specs.filter((s) => s.kind === 'scale')).toHaveLength(300)
    expect(statSync(credentialsFile).mode & 0o777).toBe(0o600)

    const elevators = registry.listDevices({ kind: 'elevator' })
    const scales = registry.listDevices({ kind: 'scale' })
    expect(elevators).toHaveLength(200)
    expect(scales).toHaveLength(300)
    const today = shanghaiDate(now)
    let overdueInspections = 0
    for (const e of elevators) {
      if (e.kind !== 'elevator') continue
      expect(e.registrationCode).toMatch(/^3110420104\d{10}$/)
      expect(e.ratedSpeedMps).toBeGreaterThanOrEqual(1)
      expect(e.ratedSpeedMps).toBeLessThanOrEqual(2.5)
      expect(e.floors).toBeGreaterThanOrEqual(6)
      expect(e.floors).toBeLessThanOrEqual(33)
      if ((e.nextInspectionDue ?? '') < today) overdueInspections++
      expect(registry.getDeviceContext(e.id)?.tenant.kind).toBe('maintenance_firm')
    }
    expect(overdueInspections).toBeGreaterThan(0)
    expect(overdueInspections).toBeLessThan(30)
    let overdueVerifications = 0
    for (const s of scales) {
      if (s.kind !== 'scale') continue
      expect([15, 30]).toContain(s.maxKg)
      expect(s.eG).toBe(s.maxKg === 15 ? 5 : 10)
      expect(s.accuracyClass).toBe('III')
      if ((s.nextVerificationDue ?? '') < today) overdueVerifications++
      expect(registry.getDeviceContext(s.id)?.tenant.kind).toBe('site_operator')
    }
    expect(overdueVerifications).toBeGreaterThan(0)
    expect(overdueVerifications).toBeLessThan(30)
    const categories = new Set(registry.listSites().map((s) => s.category))
    expect([...categories].sort()).toEqual([...SITE_CATEGORIES].sort())
    expect(registry.listSites().every((s) => s.address.includes('硚口区'))).toBe(true)

    for (const spec of specs.slice(0, 5)) {
      expect((await registry.checkCredentials(spec.id, spec.secret)).ok).toBe(true)
    }
    expect(loadCredentialsFile(credentialsFile)).toEqual(specs)
  })

  it('is idempotent: a rerun reuses rows and secrets, grows the fleet, reissues only what is missing or stale', async () => {
    const { registry, credentialsFile } = temp()
    const first = await provisionFleet(registry, { elevators: 5, scales: 5, seed: 1, credentialsFile })
    const again = await provisionFleet(registry, { elevators: 5, scales: 5, seed: 1, credentialsFile })
    expect(again).toEqual(first)

    const grown = await provisionFleet(registry, { elevators: 8, scales: 5, seed: 1, credentialsFile })
    expect(grown).toHaveLength(13)
    expect(grown.filter((s) => first.some((f) => f.id === s.id && f.secret === s.secret))).toHaveLength(10)
    expect(registry.countDevices()).toBe(13)

    // One secret lost from the file, one rotated by an operator: both reissued, the rest kept.
    const [lost, rotated] = grown
    if (!lost || !rotated) throw new Error('no devices')
    const file = JSON.parse(readFileSync(credentialsFile, 'utf8'))
    file.devices = file.devices.filter((d: { id: string }) => d.id !== lost.id)
    writeFileSync(credentialsFile, JSON.stringify(file))
    await registry.issueDeviceSecret(rotated.id)
    const third = await provisionFleet(registry, { elevators: 8, scales: 5, seed: 1, credentialsFile })
    const changed = third
      .filter((s) => grown.find((g) => g.id === s.id)?.secret !== s.secret)
      .map((s) => s.id)
    expect(changed.sort()).toEqual([lost.id, rotated.id].sort())
    for (const spec of third) expect((await registry.checkCredentials(spec.id, spec.secret)).ok).toBe(true)
  })

  it('keeps the first devices of a seed whatever the fleet size', async () => {
    const a = temp()
    const b = temp()
    await provisionFleet(a.registry, { elevators: 3, scales: 3, seed: 9, now: 1_750_000_000_000 })
    await provisionFleet(b.registry, { elevators: 30, scales: 30, seed: 9, now: 1_750_000_000_000 })
    for (const id of ['sim-el-0001', 'sim-el-0003', 'sim-sc-0002']) {
      const { createdAt: _a, ...left } = a.registry.requireDevice(id)
      const { createdAt: _b, ...right } = b.registry.requireDevice(id)
      expect(right).toEqual(left)
    }
  })
})
