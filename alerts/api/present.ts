/**
 * Alerts as the API shows them: with their device's and site's names (the same shape the live stream
 * carries, alerts/notify/notifier.ts withNames), so a client names what it lists without fetching
 * every site first. The registry caches device contexts, so a page of 500 alerts costs no query per row.
 */
import type { DeviceContext } from '../../domain/registry-types.ts'
import { withNames } from '../notify/notifier.ts'
import type { Alert, NamedAlert } from '../types.ts'

export type AlertPresenter = (alert: Alert) => NamedAlert

export function createAlertPresenter(registry: {
  getDeviceContext(deviceId: string): DeviceContext | null
}): AlertPresenter {
  return (alert) => withNames(alert, registry.getDeviceContext(alert.deviceId))
}
