/**
 * The registers the supervision keeps by hand or from devices: the maintenance log and the accident
 * register. Both are append-only (SQLite triggers refuse UPDATE and DELETE): TSG T5002 wants
 * maintenance records kept at least 4 years unaltered, and the plan's "no fatal accident" target is
 * counted from the accident register.
 *
 * A maintenance session, from the elevator's maintenance_start/maintenance_end events or from the API,
 * updates the registry's last-maintenance date (what the scheduled scan reads) and resolves
 * `maintenance_overdue` when it falls within the interval.
 */
import { daysBetween, shanghaiDate } from '../../domain/dates.ts'
import { DomainError } from '../../domain/errors.ts'
import type { Elevator } from '../../domain/registry-types.ts'
import { type Condition, sqlWhere } from '../../registry/sqlite.ts'
import { type Row, toAccident, toMaintenance } from '../store.ts'
import type {
  AccidentFilter,
  AccidentInput,
  AccidentRecord,
  MaintenanceFilter,
  MaintenanceInput,
  MaintenanceRecord,
} from '../types.ts'
import type { EngineBase } from './deps.ts'
import type { Lifecycle } from './lifecycle.ts'
import { RULE, type RuleState } from './rule-state.ts'

/** One maintenance session, checked, as the log stores it. */
export type MaintenanceSession = {
  device: Elevator
  startedAt: number
  endedAt: number
  kind: string
  source: 'device' | 'api'
  actor: string
  note: string | null
}

export type Records = ReturnType<typeof createRecords>

export function createRecords(
  deps: Pick<EngineBase, 'config' | 'registry' | 'clock' | 'store'> & {
    ruleState: Pick<RuleState, 'saveIfAbsent' | 'flushPending'>
    lifecycle: Pick<Lifecycle, 'autoResolve'>
  },
) {
  const { config, registry, clock, store, ruleState, lifecycle } = deps

  function insertMaintenance(input: MaintenanceSession): MaintenanceRecord {
    const { db, st } = store()
    // With the session's maintenance_end, whose redelivery window must not be written apart from it.
    const info = db.transaction(() => {
      ruleState.flushPending()
      return st.insertMaintenance.run(
        input.device.id,
        input.device.tenantId,
        input.startedAt,
        input.endedAt,
        input.kind,
        input.source,
        input.actor,
        input.note,
        clock.now(),
      )
    })()
    const record = toMaintenance(st.getMaintenance.get(info.lastInsertRowid) as Row)
    // The registry keeps only the latest date; remember the one it had before the log took over, so
    // the first interval of the compliance figures has its start (an imported ledger's last maintenance).
    const before = registry.getDevice(input.device.id)
    if (before?.kind === 'elevator' && before.lastMaintenanceAt !== null) {
      ruleState.saveIfAbsent(input.device.id, RULE.maintenanceBaseline, { at: before.lastMaintenanceAt })
    }
    // The device row carries the last maintenance for the registry's readers (TSG T5002 interval).
    registry.recordMaintenance(input.device.id, input.endedAt)
    const today = shanghaiDate(clock.now())
    if (daysBetween(shanghaiDate(input.endedAt), today) <= config.MAINTENANCE_INTERVAL_DAYS) {
      lifecycle.autoResolve(input.device.id, 'maintenance_overdue', clock.now(), 'maintenance recorded')
    }
    return record
  }

  /** One page of a register, newest first; 100 rows unless told. */
  function page(
    table: 'maintenance_log' | 'accidents',
    timeColumn: 'ended_at' | 'at',
    paging: { limit?: number; offset?: number },
    conditions: readonly Condition[],
  ): Row[] {
    const { clause, args } = sqlWhere(conditions)
    return store()
      .db.prepare(`SELECT * FROM ${table} ${clause} ORDER BY ${timeColumn} DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, paging.limit ?? 100, paging.offset ?? 0) as Row[]
  }

  return {
    /** A session reported by the device itself (maintenance_end), already checked by the protocol. */
    insertMaintenance,

    /** Entered by hand. DomainError NOT_FOUND / WRONG_KIND / INVALID_INPUT. */
    recordMaintenance(input: MaintenanceInput): MaintenanceRecord {
      const device = registry.getDevice(input.deviceId)
      if (!device) throw new DomainError('NOT_FOUND', `no device ${input.deviceId}`)
      if (device.kind !== 'elevator')
        throw new DomainError('WRONG_KIND', `${input.deviceId} is not an elevator`)
      if (
        !Number.isInteger(input.startedAt) ||
        !Number.isInteger(input.endedAt) ||
        input.startedAt <= 0 ||
        input.endedAt < input.startedAt
      ) {
        throw new DomainError('INVALID_INPUT', 'startedAt and endedAt: ms since epoch, endedAt >= startedAt')
      }
      // A minute of slack for the clock of the client that enters it.
      if (input.endedAt > clock.now() + 60_000)
        throw new DomainError('INVALID_INPUT', 'endedAt is in the future')
      if (input.actor.trim() === '') throw new DomainError('INVALID_INPUT', 'actor is required')
      return insertMaintenance({
        device,
        startedAt: input.startedAt,
        endedAt: input.endedAt,
        kind: input.kind?.trim() || 'half_monthly',
        source: 'api',
        actor: input.actor.trim(),
        note: input.note?.trim() || null,
      })
    },

    listMaintenance(filter: MaintenanceFilter): MaintenanceRecord[] {
      return page('maintenance_log', 'ended_at', filter, [
        ['device_id = ?', filter.deviceId || undefined],
        ['tenant_id = ?', filter.tenantId || undefined],
        ['ended_at >= ?', filter.from],
        ['ended_at < ?', filter.to],
      ]).map(toMaintenance)
    },

    /** DomainError NOT_FOUND (site or device) / INVALID_INPUT. */
    recordAccident(input: AccidentInput): AccidentRecord {
      const { st } = store()
      if (!registry.getSite(input.siteId)) throw new DomainError('NOT_FOUND', `no site ${input.siteId}`)
      if (input.deviceId && !registry.getDevice(input.deviceId)) {
        throw new DomainError('NOT_FOUND', `no device ${input.deviceId}`)
      }
      if (!Number.isInteger(input.at) || input.at <= 0)
        throw new DomainError('INVALID_INPUT', 'at: ms since epoch')
      if (input.description.trim() === '' || input.actor.trim() === '') {
        throw new DomainError('INVALID_INPUT', 'description and actor are required')
      }
      const info = st.insertAccident.run(
        input.at,
        input.siteId,
        input.deviceId ?? null,
        input.fatal ? 1 : 0,
        input.description.trim(),
        input.actor.trim(),
        clock.now(),
      )
      return toAccident(st.getAccident.get(info.lastInsertRowid) as Row)
    },

    listAccidents(filter: AccidentFilter): AccidentRecord[] {
      return page('accidents', 'at', filter, [
        ['site_id = ?', filter.siteId || undefined],
        ['at >= ?', filter.from],
        ['at < ?', filter.to],
      ]).map(toAccident)
    },
  }
}
