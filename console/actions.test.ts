/**
 * The console shows a next-step button only when pressing it succeeds, and every action that would
 * succeed (but an early release) as a button: for every role and every state of a rescue,
 * availableActions (src/logic.ts) is checked against the real API and engine.
 */
import { describe, expect, it } from 'vitest'
import { startApiFixture, type Tokens } from '../alerts/api/testing.ts'
import { ALERT_ACTIONS, type Alert, type AlertAction } from '../alerts/types.ts'
import type { Principal } from '../domain/registry-types.ts'
import { availableActions, NEEDS_NOTE } from './src/logic.ts'

const ROLES: Array<[keyof Tokens, Pick<Principal, 'role' | 'tenantId'>]> = [
  ['admin', { role: 'admin', tenantId: null }],
  ['duty', { role: 'duty_officer', tenantId: null }],
  ['tenantA', { role: 'tenant', tenantId: 'firm-a' }],
  ['viewer', { role: 'viewer', tenantId: null }],
]

/** States of a trapped-passenger alert, as the steps the duty officer took to get there. */
const STATES: AlertAction[][] = [
  [],
  ['acknowledge'],
  ['dispatch'],
  ['acknowledge', 'dispatch'],
  ['dispatch', 'accept'],
  ['dispatch', 'accept', 'arrive'],
  ['dispatch', 'accept', 'arrive', 'release'],
]

describe('next-step buttons against the API', () => {
  it('offers an action when and only when the API accepts it, for every role and rescue state', async () => {
    const fx = await startApiFixture({ env: { RESCUE_AUTO_DISPATCH: 'false' } })
    const post = async (role: keyof Tokens, id: string, action: AlertAction) => {
      const res = await fx.app.inject({
        method: 'POST',
        url: `/api/alerts/${id}/${action}`,
        headers: fx.auth(role),
        payload: NEEDS_NOTE.has(action) ? { note: 'checked by the console test' } : {},
      })
      return res
    }
    const mismatches: string[] = []
    for (const steps of STATES) {
      for (const [role, principal] of ROLES) {
        for (const action of ALERT_ACTIONS) {
          await fx.elevatorEvent('el-a1', 'trapped', { floor: 2 })
          const list = await fx.app.inject({
            url: '/api/alerts?device=el-a1&status=active',
            headers: fx.auth('admin'),
          })
          const active = list.json<{ items: Alert[] }>().items[0]
          if (!active) throw new Error('no trapped alert raised')
          for (const step of steps) {
            const res = await post('duty', active.id, step)
            expect(res.statusCode, `${steps.join('>')}: ${step}`).toBe(200)
          }
          const before = await fx.app.inject({ url: `/api/alerts/${active.id}`, headers: fx.auth('admin') })
          const alert = before.json<{ alert: Alert }>().alert
          const offered = availableActions(alert, principal).includes(action)
          const res = await post(role, alert.id, action)
          const accepted = res.statusCode === 200
          // Release before arrival is accepted by the API (passengers may walk out before the firm
          // arrives) but is not a button: the console offers the timeline's stages in order, and a
          // duty officer closes such a rescue with resolve and a note.
          const isEarlyRelease = action === 'release' && alert.rescue?.arrivedAt === null
          if (offered !== accepted && !(isEarlyRelease && accepted && !offered)) {
            mismatches.push(
              `${steps.join('>') || 'raised'} / ${role} / ${action}: offered ${offered}, API ${res.statusCode}`,
            )
          }
          // Clear the way for the next alert on this elevator.
          await post('admin', alert.id, 'resolve')
        }
      }
    }
    expect(mismatches).toEqual([])
  })
})
