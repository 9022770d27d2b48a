import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { isDomainError } from '../domain/errors.ts'
import { createRegistry, type RegistryChange } from './registry.ts'

function openTemp() {
  const dir = mkdtempSync(join(tmpdir(), 'registry-'))
  const registry = createRegistry({ file: join(dir, 'registry.db') })
  onTestFinished(() => {
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { registry, dir }
}

function seed(registry: ReturnType<typeof createRegistry>) {
  registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
  registry.createSite({ id: 'site-1', name: 'Hanzheng market', category: 'market', address: 'Qiaokou' })
  return registry.createElevator({
    id: 'el-1',
    siteId: 'site-1',
    tenantId: 'firm-a',
    registrationCode: '31104201002021000001',
    ratedSpeedMps: 1.75,
    floors: 18,
  })
}

/** `seed`, and a second elevator at the same site, of the same tenant. */
function seedTwoElevators(registry: ReturnType<typeof createRegistry>): void {
  seed(registry)
  registry.createElevator({
    id: 'el-2',
    siteId: 'site-1',
    tenantId: 'firm-a',
    registrationCode: '31104201002021000002',
    ratedSpeedMps: 1,
    floors: 6,
  })
}

describe('registry', () => {
  it('keeps device ids and service account names apart, whichever comes first', async () => {
    const { registry } = openTemp()
    seed(registry)
    await expect(registry.createServiceAccount('el-1')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' })
    await registry.createServiceAccount('svc-tool')
    // A device under that name could never log in: the broker takes the name for the account.
    let code: string | null = null
    try {
      registry.createScale({
        id: 'svc-tool',
        siteId: 'site-1',
        tenantId: 'firm-a',
        certificateNo: 'C-1',
        maxKg: 30,
        eG: 5,
      })
    } catch (err) {
      code = isDomainError(err) ? err.code : 'other'
    }
    expect(code).toBe('ALREADY_EXISTS')
    expect(registry.getDevice('svc-tool')).toBeNull()
  })

  it('stores devices with their site and tenant', () => {
    const { registry } = openTemp()
    const elevator = seed(registry)
    expect(elevator.kind).toBe('elevator')
    expect(elevator.statusPeriodS).toBe(5)
    const context = registry.getDeviceContext('el-1')
    expect(context?.site.category).toBe('market')
    expect(context?.tenant.id).toBe('firm-a')
    expect(registry.getDeviceContext('nope')).toBeNull()
  })

  it('refuses bad input with every failing field', () => {
    const { registry } = openTemp()
    seed(registry)
    try {
      registry.createElevator({
        siteId: 'site-1',
        tenantId: 'firm-a',
        registrationCode: '123',
        ratedSpeedMps: -1,
        floors: 18,
      })
      expect.unreachable()
    } catch (err) {
      expect(isDomainError(err, 'INVALID_INPUT')).toBe(true)
      expect(String((err as Error).message)).toMatch(/registrationCode/)
      expect(String((err as Error).message)).toMatch(/ratedSpeedMps/)
    }
    expect(() =>
      registry.createScale({ siteId: 'no-site', tenantId: 'firm-a', certificateNo: 'C1', maxKg: 30, eG: 5 }),
    ).toThrow(expect.objectContaining({ code: 'UNKNOWN_REFERENCE' }))
  })

  it('verifies, rotates and revokes device secrets', async () => {
    const { registry } = openTemp()
    seed(registry)
    expect(await registry.checkCredentials('el-1', 'x')).toEqual({ ok: false, reason: 'no_credentials' })
    const first = await registry.issueDeviceSecret('el-1')
    expect((await registry.checkCredentials('el-1', first)).ok).toBe(true)
    // second check hits the cache and must still say yes
    expect((await registry.checkCredentials('el-1', first)).ok).toBe(true)
    expect(await registry.checkCredentials('el-1', 'wrong')).toEqual({ ok: false, reason: 'bad_secret' })
    const second = await registry.issueDeviceSecret('el-1')
    expect(await registry.checkCredentials('el-1', first)).toEqual({ ok: false, reason: 'bad_secret' })
    expect((await registry.checkCredentials('el-1', second)).ok).toBe(true)
    registry.revokeDevice('el-1')
    expect(await registry.checkCredentials('el-1', second)).toEqual({ ok: false, reason: 'revoked' })
    expect(await registry.checkCredentials('ghost', second)).toEqual({ ok: false, reason: 'unknown' })
    const row = registry.db.prepare('SELECT secret_hash FROM device_credentials').get() as {
      secret_hash: string
    }
    // 256 random bits: a SHA-256 digest, not the secret, and not a slow hash (registry/secrets.ts).
    expect(row.secret_hash).toMatch(/^sha256\$[A-Za-z0-9_-]{43}$/)
    expect(row.secret_hash).not.toContain(second)
  })

  it('still lets in secrets stored as scrypt hashes before, and stores the next one as a digest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'registry.db')
    const before = createRegistry({ file, scrypt: { N: 16, r: 1, p: 1 } })
    seed(before)
    const device = await before.issueDeviceSecret('el-1')
    const service = await before.createServiceAccount('svc-old')
    const hashOf = (r: typeof before, table: string): string =>
      (r.db.prepare(`SELECT secret_hash FROM ${table}`).get() as { secret_hash: string }).secret_hash
    expect(hashOf(before, 'device_credentials')).toMatch(/^scrypt\$16\$1\$1\$/)
    before.close()

    const after = createRegistry({ file })
    onTestFinished(() => after.close())
    expect((await after.checkCredentials('el-1', device)).ok).toBe(true)
    expect(await after.checkCredentials('el-1', `${device}x`)).toEqual({ ok: false, reason: 'bad_secret' })
    expect(await after.checkCredentials('svc-old', service)).toEqual({
      ok: true,
      kind: 'service',
      username: 'svc-old',
    })
    const rotated = await after.issueDeviceSecret('el-1')
    expect(hashOf(after, 'device_credentials')).toMatch(/^sha256\$/)
    expect((await after.checkCredentials('el-1', rotated)).ok).toBe(true)
    expect(await after.checkCredentials('el-1', device)).toEqual({ ok: false, reason: 'bad_secret' })
    // A stored form it does not know lets nobody in (a fresh connection: no secret verified yet).
    after.db.prepare("UPDATE device_credentials SET secret_hash = 'md5$abc'").run()
    const fresh = createRegistry({ file })
    onTestFinished(() => fresh.close())
    expect(await fresh.checkCredentials('el-1', rotated)).toEqual({ ok: false, reason: 'bad_secret' })
  })

  it('authenticates API tokens and binds tenant tokens to their tenant', () => {
    const { registry } = openTemp()
    seed(registry)
    expect(() => registry.createApiToken({ name: 't', role: 'tenant' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
    const { token, record } = registry.createApiToken({ name: 'firm a', role: 'tenant', tenantId: 'firm-a' })
    expect(registry.authenticateToken(token)).toMatchObject({ role: 'tenant', tenantId: 'firm-a' })
    expect(registry.authenticateToken(`${token}x`)).toBeNull()
    registry.revokeApiToken(record.id)
    expect(registry.authenticateToken(token)).toBeNull()
  })

  it('gives the devices of one site one Site and one Tenant object, and reads them again after a change', () => {
    const { registry, dir } = openTemp()
    seedTwoElevators(registry)
    const first = registry.getDeviceContext('el-1')
    const second = registry.getDeviceContext('el-2')
    expect(second?.device.id).toBe('el-2')
    expect(second?.site).toBe(first?.site)
    expect(second?.tenant).toBe(first?.tenant)
    const other = createRegistry({ file: join(dir, 'registry.db') })
    other.db.prepare("UPDATE sites SET address = 'Hanzhong Road 1' WHERE id = 'site-1'").run()
    other.db.prepare("UPDATE tenants SET name = 'Firm A Ltd' WHERE id = 'firm-a'").run()
    other.close()
    registry.pollExternalChanges()
    const after = registry.getDeviceContext('el-2')
    expect(after?.site.address).toBe('Hanzhong Road 1')
    expect(after?.tenant.name).toBe('Firm A Ltd')
    expect(registry.getDeviceContext('el-1')?.site).toBe(after?.site)
    expect(first?.site.address).toBe('Qiaokou')
  })

  it("re-reads only the changed device's context after a change made here, and all after another connection's", async () => {
    const { registry, dir } = openTemp()
    seedTwoElevators(registry)
    const one = registry.getDeviceContext('el-1')
    const two = registry.getDeviceContext('el-2')
    registry.setInService('el-1', false)
    const oneAfter = registry.getDeviceContext('el-1')
    expect(oneAfter?.device.inService).toBe(false)
    expect(oneAfter).not.toBe(one)
    // The other device's context is the same object: not read again, its tags not rebuilt.
    expect(registry.getDeviceContext('el-2')).toBe(two)
    expect(oneAfter?.site).toBe(two?.site)
    registry.recordMaintenance('el-2', Date.UTC(2026, 10, 1))
    expect(registry.getDeviceContext('el-2')).not.toBe(two)
    expect(registry.getDeviceContext('el-1')).toBe(oneAfter)
    // A service account's or a token's change touches no device.
    await registry.createServiceAccount('svc-x')
    registry.revokeServiceAccount('svc-x')
    expect(registry.getDeviceContext('el-1')).toBe(oneAfter)
    // Another connection's commit: which rows it changed is unknown, so every context is read again.
    const other = createRegistry({ file: join(dir, 'registry.db') })
    other.db.prepare("UPDATE devices SET name = 'renamed' WHERE id = 'el-2'").run()
    other.close()
    registry.pollExternalChanges()
    expect(registry.getDeviceContext('el-1')).not.toBe(oneAfter)
    expect(registry.getDeviceContext('el-2')?.device.name).toBe('renamed')
  })

  it('sees commits made by another connection', () => {
    const { registry, dir } = openTemp()
    seed(registry)
    expect(registry.getDeviceContext('el-1')?.device.name).toBeNull()
    const other = createRegistry({ file: join(dir, 'registry.db') })
    other.db.prepare("UPDATE devices SET name = 'renamed' WHERE id = 'el-1'").run()
    other.close()
    const changes: string[] = []
    registry.onChange((c) => changes.push(c.type))
    registry.pollExternalChanges()
    expect(changes).toEqual(['external'])
    expect(registry.getDeviceContext('el-1')?.device.name).toBe('renamed')
  })

  it('tells whose access changed in another connection, and only that, so brokers re-check only them', async () => {
    const { registry, dir } = openTemp()
    seed(registry)
    registry.createScale({
      id: 'sc-1',
      siteId: 'site-1',
      tenantId: 'firm-a',
      certificateNo: 'C-1',
      maxKg: 30,
      eG: 5,
    })
    await registry.issueDeviceSecret('el-1')
    await registry.issueDeviceSecret('sc-1')
    const changes: RegistryChange[] = []
    registry.onChange((c) => changes.push(c))
    const other = createRegistry({ file: join(dir, 'registry.db') })
    onTestFinished(() => other.close())
    // A rename changes nobody's right to connect.
    other.db.prepare("UPDATE devices SET name = 'renamed' WHERE id = 'el-1'").run()
    registry.pollExternalChanges()
    // Each write path that can end a connection: rotation, revocation, service state, a service account.
    await other.issueDeviceSecret('el-1')
    other.revokeDevice('sc-1')
    other.setInService('el-1', false)
    other.setInService('el-1', false) // no change: not listed again
    await other.createServiceAccount('svc-x')
    other.revokeServiceAccount('svc-x')
    registry.pollExternalChanges()
    // Plain SQL too (an operator at the sqlite3 prompt): the triggers see it.
    other.db.prepare("UPDATE device_credentials SET revoked_at = 1 WHERE device_id = 'el-1'").run()
    registry.pollExternalChanges()
    expect(changes).toEqual([
      { type: 'external', accessChanged: [] },
      { type: 'external', accessChanged: ['el-1', 'sc-1', 'svc-x'] },
      { type: 'external', accessChanged: ['el-1'] },
    ])
  })
})
