/**
 * The InfluxDB schema the dashboards read, as types: a panel that names a field or tag the platform
 * does not write fails to typecheck. docs/storage.md is the prose form; schema.test.ts checks the
 * reading fields against ingest's own table (ingest/line-protocol.ts READING_FIELDS).
 */

/** Tags ingest puts on every reading (ingest/line-protocol.ts deviceTags). */
export const DEVICE_TAGS = ['device_id', 'site_id', 'tenant_id', 'site_category'] as const

export type FieldType = 'float' | 'int' | 'bool' | 'string'

type MeasurementSpec = { tags: readonly string[]; fields: Readonly<Record<string, FieldType>> }

const READING_COMMON = { seq: 'int', received_at: 'int' } as const

export const MEASUREMENTS = {
  elevator_status: {
    tags: DEVICE_TAGS,
    fields: {
      mode: 'string',
      floor: 'int',
      levelled: 'bool',
      door_zone: 'bool',
      direction: 'string',
      speed: 'float',
      door: 'string',
      occupied: 'bool',
      load: 'float',
      safety_circuit: 'bool',
      door_lock: 'bool',
      power: 'bool',
      alarm_button: 'bool',
      ...READING_COMMON,
    },
  },
  elevator_event: { tags: [...DEVICE_TAGS, 'code'], fields: { detail: 'string', ...READING_COMMON } },
  scale_status: {
    tags: DEVICE_TAGS,
    fields: {
      zero_offset_e: 'float',
      seal_intact: 'bool',
      param_counter: 'int',
      calibration_counter: 'int',
      firmware: 'string',
      ...READING_COMMON,
    },
  },
  scale_weighing: {
    tags: DEVICE_TAGS,
    fields: {
      gross_kg: 'float',
      tare_kg: 'float',
      net_kg: 'float',
      unit_price_cny: 'float',
      amount_cny: 'float',
      stable: 'bool',
      ...READING_COMMON,
    },
  },
  scale_event: { tags: [...DEVICE_TAGS, 'code'], fields: { detail: 'string', ...READING_COMMON } },
  /** One point per transition of an alert (ingest/line-protocol.ts alertChangeLine). */
  alert_change: {
    tags: ['type', 'severity', 'status', 'transition', ...DEVICE_TAGS],
    fields: { alert_id: 'string', count: 'int', actor: 'string' },
  },
  /**
   * Snapshot of the alerts that are active (open or acknowledged), written by the alerts service every
   * ALERTS_SNAPSHOT_INTERVAL_S: one point per group with active alerts, and a 0 once for a group that
   * had some in the previous snapshot and has none now (so `last()` never keeps a stale count).
   */
  alerts_active: {
    tags: ['type', 'severity', 'site_id', 'tenant_id', 'site_category', 'kind'],
    fields: { active: 'int', unacknowledged: 'int' },
  },
  /**
   * Ingest's own health, every INGEST_HEALTH_INTERVAL_MS (10 s). received, written, spooled and
   * dead_letters count since the process started; the latency and batch figures cover the last interval.
   */
  platform_ingest: {
    tags: ['instance'],
    fields: {
      influx_up: 'int',
      received: 'int',
      written: 'int',
      spooled: 'int',
      spool_depth_lines: 'int',
      spool_age_s: 'float',
      dead_letters: 'int',
      batch_size_avg: 'float',
      write_latency_p50_ms: 'float',
      write_latency_p99_ms: 'float',
    },
  },
  /**
   * The headroom of the process ingest runs in (the whole platform when all-in-one), with each
   * platform_ingest point: event loop busy share and delay over the last interval, open files (one per
   * device connection) against the limit, memory.
   */
  platform_process: {
    tags: ['instance'],
    fields: {
      event_loop_utilization: 'float',
      event_loop_delay_p99_ms: 'float',
      open_files: 'int',
      open_files_limit: 'int',
      rss_mib: 'float',
      heap_used_mib: 'float',
    },
  },
  /** Dead letters per reason since the process started, with each platform_ingest point. */
  platform_dead_letters: { tags: ['instance', 'reason'], fields: { count: 'int' } },
} as const satisfies Record<string, MeasurementSpec>

export type Measurement = keyof typeof MEASUREMENTS
export type FieldOf<M extends Measurement> = keyof (typeof MEASUREMENTS)[M]['fields'] & string
export type TagOf<M extends Measurement> = (typeof MEASUREMENTS)[M]['tags'][number]
