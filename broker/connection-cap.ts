/**
 * How many device sockets the broker takes before refusing more. Every socket is a file descriptor,
 * and so are what keeps readings safe: the spool's segment files, SQLite's, the sockets to InfluxDB
 * and Redis, the API's clients. A flood of connections that takes the last descriptor leaves ingest
 * unable to reopen InfluxDB or the spool (EMFILE) and the platform stuck, so without an explicit
 * MQTT_MAX_CONNECTIONS the cap is the process's open-files limit minus a reserve for those.
 */
/** Descriptors kept for the platform's own files and sockets: 1 % of the limit, from 64 to 1,024. */
export function descriptorReserve(limit: number): number {
  return Math.min(1024, Math.max(64, Math.ceil(limit / 100)))
}

export type ConnectionCap = {
  /** Sockets taken at most, over every listener; null: no cap (limit unknown, none configured). */
  max: number | null
  /** Where it comes from, for the start-up log. */
  source: 'MQTT_MAX_CONNECTIONS' | 'open files limit' | 'none'
  openFilesLimit: number | null
}

export function connectionCap(configured: number | undefined, limit: number | null): ConnectionCap {
  if (configured !== undefined)
    return { max: configured, source: 'MQTT_MAX_CONNECTIONS', openFilesLimit: limit }
  if (limit === null) return { max: null, source: 'none', openFilesLimit: null }
  return {
    max: Math.max(1, limit - descriptorReserve(limit)),
    source: 'open files limit',
    openFilesLimit: limit,
  }
}
