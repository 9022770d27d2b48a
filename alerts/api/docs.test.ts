/**
 * docs/api.md is what integrators read: this keeps it true to the code. Every route of the OpenAPI
 * document is in its table, every setting in its settings tables, and the webhook examples are what
 * formats.ts produces.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { DeviceContext } from '../../domain/registry-types.ts'
import { NotifyConfigSchema } from '../notify/config.ts'
import { type AlertMessage, genericBody, wecomBody } from '../notify/formats.ts'
import { ApiConfigSchema } from './config.ts'
import { AlertsProcessConfigSchema } from './standalone.ts'
import { startApiFixture } from './testing.ts'

const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8')

/** The JSON code blocks that follow a `### <heading>` of the webhook section. */
function jsonAfter(heading: string): unknown {
  const at = doc.indexOf(`### ${heading}`)
  const block = /```json\n([\s\S]*?)```/.exec(doc.slice(at))
  if (at < 0 || !block?.[1]) throw new Error(`no JSON example after ${heading}`)
  return JSON.parse(block[1])
}

const at = Date.parse('2025-03-01T06:05:09Z')
const context: DeviceContext = {
  device: {
    id: 'el-0042',
    kind: 'elevator',
    siteId: 'site-07',
    tenantId: 'firm-2',
    name: '3号客梯',
    statusPeriodS: 5,
    inService: true,
    createdAt: 1,
    registrationCode: '31104201002021000042',
    ratedSpeedMps: 1.75,
    floors: 18,
    lastInspectionOn: null,
    nextInspectionDue: null,
    lastMaintenanceAt: null,
  },
  site: {
    id: 'site-07',
    name: '武商广场',
    category: 'mall',
    address: '武汉市硚口区解放大道1号',
    operatorTenantId: null,
    createdAt: 1,
  },
  tenant: {
    id: 'firm-2',
    name: '湖北汉水电梯维保有限公司',
    kind: 'maintenance_firm',
    contact: null,
    createdAt: 1,
  },
}
const message: AlertMessage = {
  change: {
    alertId: '3f0c2a9e-7d1b-4c55-9a0e-1b2c3d4e5f60',
    transition: 'raised',
    type: 'trapped',
    severity: 'critical',
    status: 'open',
    deviceId: 'el-0042',
    siteId: 'site-07',
    tenantId: 'firm-2',
    siteCategory: 'mall',
    count: 1,
    at,
    actor: 'system',
  },
  context,
  link: 'https://liftscale.example/alerts/3f0c2a9e-7d1b-4c55-9a0e-1b2c3d4e5f60',
  extra: { title: '非平层关人', arriveDeadline: at + 1800_000 },
}

describe('docs/api.md', () => {
  it('lists every route of the API', async () => {
    const f = await startApiFixture()
    const openapi = (await f.app.inject({ url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, unknown>>
    }
    const missing: string[] = []
    for (const [path, methods] of Object.entries(openapi.paths)) {
      for (const method of Object.keys(methods)) {
        const route = `${method.toUpperCase()} ${path}`
        // A table cell may name two routes: `GET /api/sites`, `GET /api/sites/{id}`
        if (!doc.includes(`\`${route}\``) && !doc.includes(`\`${route}?`)) missing.push(route)
      }
    }
    expect(missing).toEqual([])
  })

  it('documents every setting', () => {
    const keys = [
      ...Object.keys(ApiConfigSchema.shape),
      ...Object.keys(NotifyConfigSchema.shape),
      ...Object.keys(AlertsProcessConfigSchema.shape).filter(
        (k) => k.startsWith('MQTT_') || k === 'LOG_LEVEL' || k === 'CONSOLE_DIR',
      ),
    ]
    expect(keys.filter((k) => !doc.includes(`| \`${k}\``))).toEqual([])
  })

  it('shows the webhook bodies formats.ts makes', () => {
    expect(jsonAfter('generic')).toEqual(JSON.parse(JSON.stringify(genericBody(message, '1842'))))
    expect(jsonAfter('wecom (企业微信群机器人)')).toEqual(wecomBody(message))
  })
})
