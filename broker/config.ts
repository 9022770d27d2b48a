import { z } from 'zod'
import { env } from '../domain/config.ts'
import { DomainError } from '../domain/errors.ts'

/**
 * Settings of the MQTT broker. A plain object schema, so an all-in-one entry point can merge it with
 * other services' schemas (`.shape`); the TLS pairing rule lives in `brokerTls`.
 */
export const BrokerConfigSchema = z.object({
  MQTT_PORT: env.port(1883),
  MQTT_HOST: z.string().min(1).default('0.0.0.0'),
  /** TLS listener port; 8883 when a certificate and key are set and this is not. */
  MQTT_TLS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** PEM certificate chain file for the TLS listener. */
  MQTT_TLS_CERT: z.string().min(1).optional(),
  /** PEM private key file for the TLS listener. */
  MQTT_TLS_KEY: z.string().min(1).optional(),
  /**
   * Cap on device sockets over all listeners; past it a socket is closed on arrival and counted.
   * Unset: the process's open-files limit less a reserve for the platform's own files and sockets
   * (1 %, 64 to 1,024), so a flood of connections cannot take the descriptors storage needs.
   */
  MQTT_MAX_CONNECTIONS: z.coerce.number().int().positive().optional(),
  /**
   * Largest MQTT packet accepted on the wire before the socket is dropped. Aedes' parser buffers a
   * whole packet whatever length it declares; protocol payloads are at most 4 KiB, so 16 KiB leaves
   * room for topic and headers while a refused 5 KiB publish still reaches the ACL to be counted.
   */
  MQTT_MAX_PACKET_BYTES: env.positiveInt(16_384),
  /** How often changes made by other processes (the operator CLI) are looked for, to kick revoked clients. */
  MQTT_REVOCATION_POLL_MS: env.positiveInt(1000),
  /** A socket that sends no CONNECT within this time is dropped. */
  MQTT_CONNECT_TIMEOUT_MS: env.positiveInt(10_000),
  /**
   * A client whose socket takes no data for this long is disconnected (aedes' drainTimeout). A device's
   * PUBACK waits until every subscriber of its message took it, so one subscriber that stops reading
   * holds up every device's acknowledgements: aedes' default of 60 s would stall trapped-passenger
   * events for a minute. A persistent session keeps its messages for the reconnect.
   */
  MQTT_DRAIN_TIMEOUT_MS: env.positiveInt(5000),
})
export type BrokerConfig = z.output<typeof BrokerConfigSchema>

/**
 * Settings of a broker process that shares Redis with other brokers (broker/main.ts, split
 * deployment). Apart from BrokerConfigSchema: the all-in-one platform runs one broker, in memory.
 */
export const BrokerClusterConfigSchema = z.object({
  /**
   * Redis the brokers share (redis:// or rediss://, credentials in the URL): messages between brokers
   * and persistent sessions go through it. Unset: this broker alone, in memory.
   */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
})
export type BrokerClusterConfig = z.output<typeof BrokerClusterConfigSchema>

/** Default TLS port, the IANA registration for MQTT over TLS. */
export const DEFAULT_TLS_PORT = 8883

export type BrokerTls = { port: number; certFile: string; keyFile: string }

/**
 * The TLS listener settings, or null when none is configured. Throws CONFIG_INVALID when only one of
 * certificate and key is set (a half-configured TLS would silently leave devices on plain TCP).
 */
export function brokerTls(config: BrokerConfig): BrokerTls | null {
  const { MQTT_TLS_CERT: certFile, MQTT_TLS_KEY: keyFile } = config
  if (certFile === undefined && keyFile === undefined) {
    if (config.MQTT_TLS_PORT !== undefined)
      throw invalid('MQTT_TLS_PORT: set MQTT_TLS_CERT and MQTT_TLS_KEY too')
    return null
  }
  if (certFile === undefined) throw invalid('MQTT_TLS_CERT: required when MQTT_TLS_KEY is set')
  if (keyFile === undefined) throw invalid('MQTT_TLS_KEY: required when MQTT_TLS_CERT is set')
  return { port: config.MQTT_TLS_PORT ?? DEFAULT_TLS_PORT, certFile, keyFile }
}

function invalid(problem: string): DomainError {
  return new DomainError('CONFIG_INVALID', `invalid configuration:\n  ${problem}`, {
    details: { problems: [problem] },
  })
}
