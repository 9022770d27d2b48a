/**
 * A simulated device as the fleet runs it, and the credentials file that keeps them between runs
 * (secrets are shown once by the registry, so the simulator is where they live).
 */
import { z } from 'zod'
import { DEVICE_ID_PATTERN, DEVICE_KINDS } from '../domain/topics.ts'

export const SimulatedDeviceSpecSchema = z.object({
  id: z.string().regex(DEVICE_ID_PATTERN),
  kind: z.enum(DEVICE_KINDS),
  /** MQTT password; the username and client id are the device id. */
  secret: z.string().min(1),
  /** Registry credential version the secret belongs to (a rotation elsewhere makes it stale). */
  credentialVersion: z.int().positive().optional(),
  ratedSpeedMps: z.number().positive().max(30).optional(),
  floors: z.int().min(2).max(300).optional(),
  eG: z.number().positive().optional(),
  maxKg: z.number().positive().optional(),
  statusPeriodS: z.int().min(1).max(86_400).optional(),
})
export type SimulatedDeviceSpec = z.infer<typeof SimulatedDeviceSpecSchema>

export const CredentialsFileSchema = z.object({
  version: z.literal(1),
  devices: z.array(SimulatedDeviceSpecSchema),
})
export type CredentialsFile = z.infer<typeof CredentialsFileSchema>
