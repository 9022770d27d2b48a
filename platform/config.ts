/**
 * Settings of the whole platform in one process: every service's schema merged, plus what only the
 * entry point needs. Each name means the same thing wherever it is read (docs/configuration.md).
 */
import { z } from 'zod'
import { ApiConfigSchema } from '../alerts/api/config.ts'
import { AlertsConfigSchema } from '../alerts/config.ts'
import { NotifyConfigSchema } from '../alerts/notify/config.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { IngestConfigSchema } from '../ingest/config.ts'
import { MIN_PRESET_TOKEN_LENGTH } from '../registry/registry.ts'

export const PlatformConfigSchema = z.object({
  ...BrokerConfigSchema.shape,
  ...IngestConfigSchema.shape,
  ...AlertsConfigSchema.shape,
  ...NotifyConfigSchema.shape,
  ...ApiConfigSchema.shape,
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * The first administrator's API token. Unset: one is generated on first start, stored (as a digest)
   * and printed once. Set: registered as an admin token if it is not yet; at least 32 characters.
   */
  ADMIN_TOKEN: z.string().min(MIN_PRESET_TOKEN_LENGTH).optional(),
  /** Folder of the built web console; unset: console/dist when it exists. */
  CONSOLE_DIR: z.string().min(1).optional(),
})
export type PlatformConfig = z.output<typeof PlatformConfigSchema>
