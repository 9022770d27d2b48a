/**
 * Certification records: periodic verification of scales (JJG 539, at most every 12 months) and periodic
 * inspection of elevators (TSG T7001, annual, declared one month before the certificate expires).
 * History is appended, never rewritten; the device rows carry the current last/next dates.
 */
import { validUntil as certificateEnd } from '../domain/dates.ts'
import { DomainError } from '../domain/errors.ts'
import { IsoDateSchema } from '../domain/registry-types.ts'
import type { Registry } from './registry.ts'

export type VerificationRecord = {
  id: number
  deviceId: string
  openedAt: number
  closedAt: number | null
  verifiedOn: string | null
  passed: boolean | null
  validUntil: string | null
  /** The scale's due date when the verification was opened: "verified before due" compares against it. */
  dueBefore: string | null
  verifier: string | null
  note: string | null
}

export type InspectionRecord = {
  id: number
  deviceId: string
  declaredOn: string
  dueBefore: string | null
  inspectedOn: string | null
  passed: boolean | null
  validUntil: string | null
  recordedAt: number
  actor: string | null
}

export type CertificationOptions = {
  /** JJG 539: periodic verification at most every 12 months. */
  verificationPeriodMonths?: number
  /** TSG T7001: periodic inspection is annual. */
  inspectionPeriodMonths?: number
  now?: () => number
}

type Row = Record<string, unknown>

const boolOrNull = (v: unknown): boolean | null => (v === null || v === undefined ? null : v === 1)
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

function toVerification(r: Row): VerificationRecord {
  return {
    id: Number(r.id),
    deviceId: String(r.device_id),
    openedAt: Number(r.opened_at),
    closedAt: numOrNull(r.closed_at),
    verifiedOn: strOrNull(r.verified_on),
    passed: boolOrNull(r.passed),
    validUntil: strOrNull(r.valid_until),
    dueBefore: strOrNull(r.due_before),
    verifier: strOrNull(r.verifier),
    note: strOrNull(r.note),
  }
}

function toInspection(r: Row): InspectionRecord {
  return {
    id: Number(r.id),
    deviceId: String(r.device_id),
    declaredOn: String(r.declared_on),
    dueBefore: strOrNull(r.due_before),
    inspectedOn: strOrNull(r.inspected_on),
    passed: boolOrNull(r.passed),
    validUntil: strOrNull(r.valid_until),
    recordedAt: Number(r.recorded_at),
    actor: strOrNull(r.actor),
  }
}

function date(value: string, field: string): string {
  const result = IsoDateSchema.safeParse(value)
  if (!result.success) throw new DomainError('INVALID_INPUT', `${field}: expected YYYY-MM-DD, got ${value}`)
  return result.data
}

export type Certification = ReturnType<typeof createCertification>

export function createCertification(registry: Registry, options: CertificationOptions = {}) {
  const { db } = registry
  const verificationMonths = options.verificationPeriodMonths ?? 12
  const inspectionMonths = options.inspectionPeriodMonths ?? 12
  const now = options.now ?? Date.now

  function requireKind(deviceId: string, kind: 'elevator' | 'scale') {
    const device = registry.requireDevice(deviceId)
    if (device.kind !== kind) throw new DomainError('WRONG_KIND', `${deviceId} is not a ${kind}`)
    return device
  }

  function openVerificationOf(deviceId: string): VerificationRecord | null {
    const row = db
      .prepare(
        'SELECT * FROM verifications WHERE device_id = ? AND closed_at IS NULL ORDER BY id DESC LIMIT 1',
      )
      .get(deviceId) as Row | undefined
    return row ? toVerification(row) : null
  }

  function openVerification(deviceId: string, input: { at?: number; verifier: string }): VerificationRecord {
    const scale = requireKind(deviceId, 'scale')
    if (scale.kind !== 'scale') throw new DomainError('WRONG_KIND', `${deviceId} is not a scale`)
    if (openVerificationOf(deviceId)) {
      throw new DomainError('VERIFICATION_OPEN', `${deviceId} already has an open verification`)
    }
    const info = db
      .prepare('INSERT INTO verifications (device_id, opened_at, due_before, verifier) VALUES (?, ?, ?, ?)')
      .run(deviceId, input.at ?? now(), scale.nextVerificationDue, input.verifier)
    registry.markDeviceChanged(deviceId)
    return toVerification(
      db.prepare('SELECT * FROM verifications WHERE id = ?').get(info.lastInsertRowid) as Row,
    )
  }

  function closeVerification(
    deviceId: string,
    input: { at?: number; verifiedOn: string; passed: boolean; validUntil?: string; note?: string },
  ): VerificationRecord {
    requireKind(deviceId, 'scale')
    const verifiedOn = date(input.verifiedOn, 'verifiedOn')
    const open = openVerificationOf(deviceId)
    if (!open) throw new DomainError('NO_OPEN_VERIFICATION', `${deviceId} has no open verification`)
    const until = input.passed
      ? input.validUntil
        ? date(input.validUntil, 'validUntil')
        : certificateEnd(verifiedOn, verificationMonths)
      : null
    db.transaction(() => {
      db.prepare(
        `UPDATE verifications SET closed_at = ?, verified_on = ?, passed = ?, valid_until = ?, note = ?
         WHERE id = ?`,
      ).run(input.at ?? now(), verifiedOn, input.passed ? 1 : 0, until, input.note ?? null, open.id)
      if (input.passed) {
        db.prepare(
          'UPDATE scales SET last_verification_on = ?, next_verification_due = ? WHERE device_id = ?',
        ).run(verifiedOn, until, deviceId)
      }
    })()
    registry.markDeviceChanged(deviceId)
    return toVerification(db.prepare('SELECT * FROM verifications WHERE id = ?').get(open.id) as Row)
  }

  function declareInspection(
    deviceId: string,
    input: { declaredOn: string; actor: string },
  ): InspectionRecord {
    const elevator = requireKind(deviceId, 'elevator')
    if (elevator.kind !== 'elevator') throw new DomainError('WRONG_KIND', `${deviceId} is not an elevator`)
    const info = db
      .prepare(
        'INSERT INTO inspections (device_id, declared_on, due_before, recorded_at, actor) VALUES (?, ?, ?, ?, ?)',
      )
      .run(deviceId, date(input.declaredOn, 'declaredOn'), elevator.nextInspectionDue, now(), input.actor)
    registry.markDeviceChanged(deviceId)
    return toInspection(db.prepare('SELECT * FROM inspections WHERE id = ?').get(info.lastInsertRowid) as Row)
  }

  return {
    verificationPeriodMonths: verificationMonths,
    inspectionPeriodMonths: inspectionMonths,

    openVerificationOf,
    openVerification,
    closeVerification,

    /** Opens and closes a verification in one step, for results entered after the fact. */
    recordVerification(
      deviceId: string,
      input: { verifiedOn: string; passed: boolean; validUntil?: string; verifier: string; note?: string },
    ): VerificationRecord {
      return db.transaction(() => {
        openVerification(deviceId, { verifier: input.verifier })
        return closeVerification(deviceId, input)
      })()
    },

    listVerifications(deviceId?: string): VerificationRecord[] {
      const rows = deviceId
        ? db.prepare('SELECT * FROM verifications WHERE device_id = ? ORDER BY id').all(deviceId)
        : db.prepare('SELECT * FROM verifications ORDER BY id').all()
      return (rows as Row[]).map(toVerification)
    },

    declareInspection,

    /**
     * Records an inspection result, completing the latest open declaration (declaring one on the
     * inspection day if none was made: that counts as a late declaration).
     */
    recordInspection(
      deviceId: string,
      input: { inspectedOn: string; passed: boolean; validUntil?: string; actor: string },
    ): InspectionRecord {
      requireKind(deviceId, 'elevator')
      const inspectedOn = date(input.inspectedOn, 'inspectedOn')
      const until = input.passed
        ? input.validUntil
          ? date(input.validUntil, 'validUntil')
          : certificateEnd(inspectedOn, inspectionMonths)
        : null
      return db.transaction(() => {
        let pending = db
          .prepare(
            'SELECT * FROM inspections WHERE device_id = ? AND inspected_on IS NULL ORDER BY id DESC LIMIT 1',
          )
          .get(deviceId) as Row | undefined
        if (!pending) {
          const declared = declareInspection(deviceId, { declaredOn: inspectedOn, actor: input.actor })
          pending = db.prepare('SELECT * FROM inspections WHERE id = ?').get(declared.id) as Row
        }
        db.prepare('UPDATE inspections SET inspected_on = ?, passed = ?, valid_until = ? WHERE id = ?').run(
          inspectedOn,
          input.passed ? 1 : 0,
          until,
          pending.id,
        )
        if (input.passed) {
          db.prepare(
            'UPDATE elevators SET last_inspection_on = ?, next_inspection_due = ? WHERE device_id = ?',
          ).run(inspectedOn, until, deviceId)
        }
        registry.markDeviceChanged(deviceId)
        return toInspection(db.prepare('SELECT * FROM inspections WHERE id = ?').get(pending.id) as Row)
      })()
    },

    listInspections(deviceId?: string): InspectionRecord[] {
      const rows = deviceId
        ? db.prepare('SELECT * FROM inspections WHERE device_id = ? ORDER BY id').all(deviceId)
        : db.prepare('SELECT * FROM inspections ORDER BY id').all()
      return (rows as Row[]).map(toInspection)
    },
  }
}
