import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createCertification } from './certification.ts'
import { createRegistry } from './registry.ts'

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'cert-'))
  const registry = createRegistry({ file: join(dir, 'registry.db') })
  onTestFinished(() => {
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  registry.createTenant({ id: 'op', name: 'Market operator', kind: 'site_operator' })
  registry.createTenant({ id: 'firm', name: 'Lift firm', kind: 'maintenance_firm' })
  registry.createSite({ id: 'mkt', name: 'Market', category: 'market', address: 'Qiaokou' })
  registry.createScale({
    id: 'sc-1',
    siteId: 'mkt',
    tenantId: 'op',
    certificateNo: 'JD-1',
    maxKg: 30,
    eG: 10,
    lastVerificationOn: '2025-03-01',
    nextVerificationDue: '2026-02-28',
  })
  registry.createElevator({
    id: 'el-1',
    siteId: 'mkt',
    tenantId: 'firm',
    registrationCode: '31104201002021000001',
    ratedSpeedMps: 1,
    floors: 6,
    nextInspectionDue: '2026-05-31',
  })
  return { registry, certification: createCertification(registry) }
}

describe('certification', () => {
  it('a passed verification moves the scale due date 12 months on and keeps history', () => {
    const { registry, certification } = setup()
    expect(registry.getDeviceContext('sc-1')?.device).toMatchObject({ nextVerificationDue: '2026-02-28' })
    const opened = certification.openVerification('sc-1', { verifier: 'metrology institute' })
    expect(opened.dueBefore).toBe('2026-02-28')
    expect(certification.openVerificationOf('sc-1')?.id).toBe(opened.id)
    expect(() => certification.openVerification('sc-1', { verifier: 'x' })).toThrow(
      expect.objectContaining({ code: 'VERIFICATION_OPEN' }),
    )
    const closed = certification.closeVerification('sc-1', { verifiedOn: '2026-02-20', passed: true })
    expect(closed.validUntil).toBe('2027-02-19')
    expect(certification.openVerificationOf('sc-1')).toBeNull()
    // the cached context sees the new dates
    expect(registry.getDeviceContext('sc-1')?.device).toMatchObject({
      lastVerificationOn: '2026-02-20',
      nextVerificationDue: '2027-02-19',
    })
  })

  it('a failed verification leaves the due date alone', () => {
    const { registry, certification } = setup()
    certification.recordVerification('sc-1', { verifiedOn: '2026-02-20', passed: false, verifier: 'v' })
    expect(registry.getDevice('sc-1')).toMatchObject({ nextVerificationDue: '2026-02-28' })
    expect(certification.listVerifications('sc-1')).toHaveLength(1)
  })

  it('records inspection declarations and results on elevators only', () => {
    const { registry, certification } = setup()
    expect(() => certification.declareInspection('sc-1', { declaredOn: '2026-04-01', actor: 'a' })).toThrow(
      expect.objectContaining({ code: 'WRONG_KIND' }),
    )
    const declared = certification.declareInspection('el-1', { declaredOn: '2026-04-20', actor: 'firm' })
    expect(declared.dueBefore).toBe('2026-05-31')
    const done = certification.recordInspection('el-1', {
      inspectedOn: '2026-05-10',
      passed: true,
      actor: 'sei',
    })
    expect(done.id).toBe(declared.id)
    expect(registry.getDevice('el-1')).toMatchObject({
      lastInspectionOn: '2026-05-10',
      nextInspectionDue: '2027-05-09',
    })
    expect(() =>
      certification.recordInspection('el-1', { inspectedOn: '2026-13-01', passed: true, actor: 'x' }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})
