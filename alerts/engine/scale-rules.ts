/**
 * Scale rules: signs of metrological fraud and faults (DOMAIN.md "Metering devices").
 * - zero offset beyond ZERO_OFFSET_LIMIT_E (JJG 539: +-0.5e, the initial-verification error at zero);
 * - legal-metrology counters (parameter, calibration) that change, and tamper events (case opened,
 *   seal broken, unlock, calibration or parameter changed): a cheat scale passes a test with standard
 *   weights, so these are the signals that matter.
 * Tamper vs verification: while a verification is open (registry/certification.ts) the verifier opens
 * the case, renews the seal and may recalibrate, so tamper signals then raise nothing and a counter
 * change only moves the baseline. The last counters seen are kept in `rule_state` across restarts.
 */
import type { ScaleEvent, ScaleStatus } from '../../domain/protocol.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import type { Certification } from '../../registry/certification.ts'
import { ALERT_RULES, isAlertType, SCALE_ALERT_CODES, SCALE_TAMPER_CODES } from '../rules.ts'
import type { EngineBase } from './deps.ts'
import type { Episodes } from './episodes.ts'
import type { Lifecycle } from './lifecycle.ts'
import { num, RULE, type RuleState } from './rule-state.ts'

type Counters = { param: number; calibration: number }

export type ScaleRules = ReturnType<typeof createScaleRules>

export function createScaleRules(
  deps: Pick<EngineBase, 'config'> & {
    certification: Pick<Certification, 'openVerificationOf'>
    ruleState: Pick<RuleState, 'save'>
    lifecycle: Pick<Lifecycle, 'raise' | 'autoResolve'>
    episodes: Episodes
  },
) {
  const { config, certification, ruleState, lifecycle, episodes } = deps
  /** Per device: the counters of its last status. */
  const counters = new Map<string, Counters>()

  return {
    status(ctx: DeviceContext, s: ScaleStatus, at: number): void {
      const id = ctx.device.id
      const isZeroOff = Math.abs(s.zeroOffsetE) > config.ZERO_OFFSET_LIMIT_E
      episodes.update(ctx, 'zero_offset', at, isZeroOff ? ALERT_RULES.zero_offset.severity : null, {
        zeroOffsetE: s.zeroOffsetE,
        limitE: config.ZERO_OFFSET_LIMIT_E,
      })
      if (!isZeroOff) lifecycle.autoResolve(id, 'zero_offset', at, 'status: zero back within limit')

      // A broken seal reported in status; episodes keep this to one verification lookup per episode.
      if (!s.sealIntact && !episodes.isOngoing(id, 'seal_broken')) {
        if (certification.openVerificationOf(id)) episodes.begin(id, 'seal_broken', 'info')
        else episodes.update(ctx, 'seal_broken', at, ALERT_RULES.seal_broken.severity, { source: 'status' })
      } else if (s.sealIntact) {
        episodes.end(id, 'seal_broken')
      }

      // Legal-metrology counters: any change outside an open verification is a tamper signal.
      const previous = counters.get(id) ?? null
      const current = { param: s.paramCounter, calibration: s.calibrationCounter }
      if (
        previous !== null &&
        previous.param === current.param &&
        previous.calibration === current.calibration
      )
        return
      counters.set(id, current)
      ruleState.save(id, RULE.scaleCounters, current)
      if (previous !== null && !certification.openVerificationOf(id)) {
        lifecycle.raise(ctx, 'counter_changed', at, {
          isRepeat: true,
          details: {
            paramCounter: { from: previous.param, to: current.param },
            calibrationCounter: { from: previous.calibration, to: current.calibration },
          },
        })
      }
    },

    event(ctx: DeviceContext, e: ScaleEvent, at: number): void {
      if (!SCALE_ALERT_CODES.has(e.code)) return
      // JJG 539: a verifier opens the case and re-seals it; tamper signals inside a verification are expected.
      if (SCALE_TAMPER_CODES.has(e.code) && certification.openVerificationOf(ctx.device.id)) return
      const type: unknown = e.code
      if (!isAlertType(type)) return
      lifecycle.raise(ctx, type, at, { isRepeat: true, details: { source: 'event', ...(e.detail ?? {}) } })
    },

    restorers: {
      [RULE.scaleCounters]: (deviceId: string, value: Record<string, unknown>) => {
        const param = num(value.param)
        const calibration = num(value.calibration)
        if (param !== null && calibration !== null) counters.set(deviceId, { param, calibration })
        else counters.delete(deviceId)
      },
    },
    clear(): void {
      counters.clear()
    },
  }
}
