/**
 * Every liftscale dashboard and the file it is provisioned from (dashboards/provisioning/<file>).
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { elevatorDetail } from './elevator-detail.ts'
import { fleetOverview } from './fleet-overview.ts'
import { meteringCompliance } from './metering-compliance.ts'
import { platformHealth } from './platform-health.ts'
import { scaleDetail } from './scale-detail.ts'

export type DashboardSource = { file: string; build: () => Dashboard }

export const DASHBOARDS: readonly DashboardSource[] = [
  { file: 'fleet-overview.json', build: fleetOverview },
  { file: 'elevator-detail.json', build: elevatorDetail },
  { file: 'metering-compliance.json', build: meteringCompliance },
  { file: 'scale-detail.json', build: scaleDetail },
  { file: 'platform-health.json', build: platformHealth },
]

/** Panel ids in layout order: the SDK leaves them out, and links to a panel (`viewPanel=`) need them. */
function withPanelIds(dashboard: Dashboard): Dashboard {
  let id = 0
  const panels = (dashboard.panels ?? []).map((panel) => ({ ...panel, id: ++id }))
  return { ...dashboard, panels }
}

/** The provisioning file's text: stable key order (the builders'), two-space indent, final newline. */
export function renderDashboard(source: DashboardSource): string {
  return `${JSON.stringify(withPanelIds(source.build()), null, 2)}\n`
}
