/**
 * Several processes opening one new SQLite file at the same moment, as the brokers of a cluster do
 * with the shared dead-letter store: each must find the schema made once, not make it again.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished } from 'vitest'
import { enableWal, type SqliteDatabase } from './sqlite.ts'

const PROCESSES = 4

/** Opens FILE at wall-clock START with a migration slow enough (a big insert) for the others to arrive. */
const OPENER = `
import { openSqlite } from ${JSON.stringify(join(import.meta.dirname, 'sqlite.ts'))}
const [file, start] = process.argv.slice(2)
while (Date.now() < Number(start)) {}
const db = openSqlite(file, [
  {
    version: 1,
    sql: \`CREATE TABLE t (n INTEGER PRIMARY KEY);
      WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000) INSERT INTO t SELECT n FROM c;\`,
  },
])
db.close()
`

function run(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })))
}

describe('openSqlite', () => {
  it('migrates a new file once when several processes open it at the same moment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sqlite-test-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const script = join(dir, 'open.ts')
    writeFileSync(script, OPENER)
    const file = join(dir, 'shared.db')
    // Far enough ahead for every process to have loaded tsx and better-sqlite3.
    const start = String(Date.now() + 4000)
    const results = await Promise.all(Array.from({ length: PROCESSES }, () => run(script, [file, start])))
    expect(results.map((r) => r.stderr.match(/SqliteError: .*/)?.[0] ?? '')).toEqual(
      Array(PROCESSES).fill(''),
    )
    expect(results.map((r) => r.code)).toEqual(Array(PROCESSES).fill(0))
    const db = new Database(file, { readonly: true })
    onTestFinished(() => {
      db.close()
    })
    expect(db.pragma('user_version', { simple: true })).toBe(1)
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 300_000 })
  })

  it('asks again for WAL when SQLite refuses the switch without waiting, and passes other errors on', () => {
    // Two processes that both hold the new file's shared lock cannot both wait for the exclusive one:
    // SQLite answers SQLITE_BUSY to one at once, busy timeout or not (CI hit it once in ~12 runs).
    let refusals = 2
    const calls: string[] = []
    enableWal({
      pragma: ((sql: string) => {
        calls.push(sql)
        if (refusals-- > 0) throw new Database.SqliteError('database is locked', 'SQLITE_BUSY')
        return 'wal'
      }) as SqliteDatabase['pragma'],
    })
    expect(calls).toEqual(['journal_mode = WAL', 'journal_mode = WAL', 'journal_mode = WAL'])
    expect(() =>
      enableWal({
        pragma: (() => {
          throw new Database.SqliteError('disk I/O error', 'SQLITE_IOERR')
        }) as SqliteDatabase['pragma'],
      }),
    ).toThrow('disk I/O error')
  })
})
