/**
 * Opens an embedded SQLite database the way every service here needs it: WAL so that the broker,
 * ingest and alerts (one process or several) read while one writes, and a busy timeout so that a
 * writer in another process makes us wait rather than fail.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

export type SqliteDatabase = Database.Database

export type Migration = { version: number; sql: string }

export function openSqlite(file: string, migrations: readonly Migration[]): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file)
  enableWal(db)
  // NORMAL in WAL mode survives a process crash; only an OS crash may lose the last transactions.
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  migrate(db, migrations)
  return db
}

const WAL_SWITCH_TIMEOUT_MS = 5000

/**
 * Switches a new file to WAL (a setting the file keeps). Processes that open one new file at once
 * (brokers of a cluster starting together) each hold a shared lock and want the exclusive one: SQLite
 * answers SQLITE_BUSY at once to all but one, without the busy handler (waiting would deadlock), so
 * the others wait a little and ask again; by then the file is in WAL and the pragma is a read.
 */
export function enableWal(db: Pick<SqliteDatabase, 'pragma'>): void {
  const deadline = Date.now() + WAL_SWITCH_TIMEOUT_MS
  for (let attempt = 1; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL')
      return
    } catch (err) {
      const busy = err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY'
      if (!busy || Date.now() >= deadline) throw err
      // Opening is synchronous (services open their stores before they serve): a blocking wait.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(100, 5 * attempt))
    }
  }
}

function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const version = (): number => Number(db.pragma('user_version', { simple: true }))
  const latest = Math.max(0, ...migrations.map((m) => m.version))
  if (version() >= latest) return
  // The version is read again under the write lock (IMMEDIATE): processes that open a new file at
  // once (the brokers of a cluster starting together) would otherwise all see version 0, and each
  // after the first would run CREATE TABLE again on the tables the first had made.
  db.transaction(() => {
    const current = version()
    const pending = migrations.filter((m) => m.version > current).sort((a, b) => a.version - b.version)
    for (const migration of pending) {
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    }
  }).immediate()
}

/** Counter that changes when another connection (another process) commits; cheap to poll. */
export function dataVersion(db: SqliteDatabase): number {
  return Number(db.pragma('data_version', { simple: true }))
}

/** A condition with one `?` and its value (skipped when the value is undefined), or a fixed condition. */
export type Condition = readonly [sql: string, value: unknown] | string

/**
 * The WHERE clause of a list query whose filters are optional: each list builds its clause from the
 * filters given. Values go as parameters, never into the SQL.
 */
export function sqlWhere(conditions: readonly Condition[]): { clause: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  for (const condition of conditions) {
    if (typeof condition === 'string') {
      where.push(condition)
      continue
    }
    const [sql, value] = condition
    if (value === undefined) continue
    where.push(sql)
    args.push(value)
  }
  return { clause: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args }
}
