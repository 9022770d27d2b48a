/**
 * Settings of the alerts engine. Every threshold has the default given in ../shared/DOMAIN.md and the
 * regulation it comes from; an operator changes them through the environment.
 */
import cron from 'node-cron'
import { z } from 'zod'
import { env } from '../domain/config.ts'

export const AlertsConfigSchema = z.object({
  DATA_DIR: z.string().min(1).default('data'),
  // Derived from status (terminal firmware defaults, DOMAIN.md "Derived detection")
  /** Stopped, door closed, occupied (or alarm button) for longer than this: trapped. */
  TRAPPED_AFTER_S: env.positiveNumber(30),
  /** Stopped outside the door zone for longer than this (firmware: 45-60 s). */
  STOPPED_OUTSIDE_DOOR_ZONE_S: env.positiveNumber(60),
  OVERSPEED_WARNING_FACTOR: env.positiveNumber(1.2),
  OVERSPEED_CRITICAL_FACTOR: env.positiveNumber(1.4),
  /** JJG 539: a zero beyond +-0.5e is outside the initial-verification error. */
  ZERO_OFFSET_LIMIT_E: env.positiveNumber(0.5),
  /** No message for this many of the device's reporting periods: offline. */
  OFFLINE_AFTER_PERIODS: env.positiveNumber(3),
  OFFLINE_CHECK_INTERVAL_S: env.positiveNumber(5),
  /** A device's last-seen time is written to SQLite at most this often (the hot path stays in memory). */
  LAST_SEEN_PERSIST_S: env.positiveNumber(30),
  // Scheduled (TSG T5002 maintenance, TSG T7001 inspection, JJG 539 verification)
  /** TSG T5002: half-monthly maintenance; more than 15 days without one is overdue. */
  MAINTENANCE_INTERVAL_DAYS: env.positiveInt(15),
  INSPECTION_DUE_SOON_DAYS: env.nonNegativeInt(30),
  /** TSG T7001: inspection is applied for one month before the certificate expires. */
  INSPECTION_DECLARE_LEAD_DAYS: env.nonNegativeInt(30),
  VERIFICATION_DUE_SOON_DAYS: env.nonNegativeInt(30),
  /** JJG 539: periodic verification at most every 12 months. */
  VERIFICATION_PERIOD_MONTHS: env.positiveInt(12),
  /** node-cron expression, evaluated in Asia/Shanghai time. */
  SCAN_CRON: z
    .string()
    .default('0 * * * *')
    .refine((v) => cron.validate(v), 'not a valid cron expression'),
  /** Also run the scans once when the engine starts. */
  SCAN_ON_START: env.boolean(true),
  // Rescue (96333 timeline; TSG T5002)
  RESCUE_ACCEPT_LIMIT_S: env.positiveNumber(300),
  /** TSG T5002: rescuer on site within 30 min in a municipality or districted city (Wuhan). */
  RESCUE_ARRIVE_LIMIT_S: env.positiveNumber(1800),
  /** Dispatch a trapped alert to the elevator's maintenance firm as soon as it is raised. */
  RESCUE_AUTO_DISPATCH: env.boolean(true),
  // Compliance targets (Qiaokou district plan 2021-2025)
  TARGET_VERIFICATION_RATE: z.coerce.number().min(0).max(1).default(0.99),
  TARGET_INSPECTION_DECLARATION_RATE: z.coerce.number().min(0).max(1).default(1),
  TARGET_INSTRUMENTS: env.positiveInt(10_000),
  /** Seqs remembered per device and channel to drop QoS 1 redeliveries. */
  SEQ_WINDOW: env.positiveInt(64),
  /** Events kept per device for the console's device page. */
  RECENT_EVENTS: env.positiveInt(20),
  /** How often the active alerts are written to InfluxDB (measurement alerts_active); 0 = never. */
  ALERTS_SNAPSHOT_INTERVAL_S: env.nonNegativeInt(60),
})
export type AlertsConfig = z.output<typeof AlertsConfigSchema>
