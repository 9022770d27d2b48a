/**
 * Dead letters: every message ingest refused, with its topic, device, reason and raw payload, in SQLite
 * under DATA_DIR (bounded: the oldest rows are pruned). Ingest writes it; the operator CLI
 * (ingest/dead-letters-cli.ts) and the alerts API (`/api/dead-letters`) read the same file.
 */
import { join } from 'node:path'
import { REJECT_REASONS } from '../domain/reading.ts'
import { openSqlite, type SqliteDatabase } from '../registry/sqlite.ts'

/** Why a message was refused: the decoder's reasons, plus what only ingest can tell. */
export const DEAD_LETTER_REASONS = [
  ...REJECT_REASONS,
  /** Valid payload, but the device is not in the registry (the broker normally refuses such devices). */
  'unknown_device',
  /** InfluxDB refused the line itself (400; 422 from 2.x), e.g. a field whose type changed. */
  'influx_rejected',
  /** An `alerts/…` message that is not an AlertChange. */
  'invalid_alert_change',
] as const
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number]

export type DeadLetterInput = {
  /** When the message was received, ms since epoch. */
  at: number
  topic: string
  deviceId: string | null
  reason: DeadLetterReason
  /** Human-readable detail: which fields failed and how. */
  message: string
  payload: Uint8Array
}

export type DeadLetter = Omit<DeadLetterInput, 'payload'> & {
  id: number
  /** The raw payload, cut at the store's maximum size. */
  payload: Buffer
  /** The payload as text when it is valid UTF-8, else null. */
  payloadText: string | null
  /** Size of the original payload. */
  payloadBytes: number
  isTruncated: boolean
}

export type DeadLetterQuery = {
  reason?: string
  deviceId?: string
  /** Newest first; at most 1000. */
  limit?: number
  /** Only rows with an id below this (paging: pass the last id of the previous page). */
  before?: number
}

export type DeadLetterStore = {
  add(entries: readonly DeadLetterInput[]): void
  list(query?: DeadLetterQuery): DeadLetter[]
  countByReason(): Record<string, number>
  count(): number
  close(): void
}

const MIGRATIONS = [
  {
    version: 1,
    sql: `
CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  topic TEXT NOT NULL,
  device_id TEXT,
  reason TEXT NOT NULL,
  message TEXT NOT NULL,
  payload BLOB NOT NULL,
  payload_bytes INTEGER NOT NULL
);
CREATE INDEX dead_letters_reason ON dead_letters (reason, id);
CREATE INDEX dead_letters_device ON dead_letters (device_id, id);
`,
  },
]

export function deadLetterFile(dataDir: string): string {
  return join(dataDir, 'ingest', 'dead-letters.db')
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function asText(payload: Buffer): string | null {
  try {
    return utf8.decode(payload)
  } catch {
    return null
  }
}

const isReason = (value: unknown): value is DeadLetterReason =>
  typeof value === 'string' && (DEAD_LETTER_REASONS as readonly string[]).includes(value)

type Row = Record<string, unknown>

function toDeadLetter(row: Row): DeadLetter {
  const raw = row.payload
  const payload = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw ?? ''))
  const payloadBytes = Number(row.payload_bytes)
  return {
    id: Number(row.id),
    at: Number(row.at),
    topic: String(row.topic),
    deviceId: row.device_id === null || row.device_id === undefined ? null : String(row.device_id),
    reason: isReason(row.reason) ? row.reason : 'schema',
    message: String(row.message),
    payload,
    payloadText: asText(payload),
    payloadBytes,
    isTruncated: payload.length < payloadBytes,
  }
}

/**
 * Opens (creating and migrating) the store. `maxRows` bounds it: each `add` prunes the oldest rows
 * beyond it. Commits are fsync'd (synchronous = FULL): a dead letter counts as taken once `add` returns.
 */
export function openDeadLetterStore(
  file: string,
  options: { maxRows?: number; maxPayloadBytes?: number } = {},
): DeadLetterStore {
  const maxRows = options.maxRows ?? 100_000
  const maxPayloadBytes = options.maxPayloadBytes ?? 8192
  const db: SqliteDatabase = openSqlite(file, MIGRATIONS)
  db.pragma('synchronous = FULL')
  const insert = db.prepare(
    `INSERT INTO dead_letters (at, topic, device_id, reason, message, payload, payload_bytes)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  )
  const prune = db.prepare('DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?')
  const addAll = db.transaction((entries: readonly DeadLetterInput[]) => {
    for (const e of entries) {
      const payload = Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)
      insert.run(
        e.at,
        e.topic.slice(0, 1024),
        e.deviceId,
        e.reason,
        e.message.slice(0, 4000),
        payload.subarray(0, maxPayloadBytes),
        payload.length,
      )
    }
    prune.run(maxRows)
  })

  return {
    add(entries) {
      if (entries.length > 0) addAll(entries)
    },

    list(query = {}) {
      const where: string[] = []
      const args: unknown[] = []
      if (query.reason !== undefined) {
        where.push('reason = ?')
        args.push(query.reason)
      }
      if (query.deviceId !== undefined) {
        where.push('device_id = ?')
        args.push(query.deviceId)
      }
      if (query.before !== undefined) {
        where.push('id < ?')
        args.push(query.before)
      }
      const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000)
      const sql = `SELECT * FROM dead_letters ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`
      return (db.prepare(sql).all(...args, limit) as Row[]).map(toDeadLetter)
    },

    countByReason() {
      const rows = db.prepare('SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason').all() as Row[]
      return Object.fromEntries(rows.map((r) => [String(r.reason), Number(r.n)]))
    },

    count() {
      const row = db.prepare('SELECT count(*) AS n FROM dead_letters').get() as Row
      return Number(row.n)
    },

    close() {
      if (db.open) db.close()
    },
  }
}
