/**
 * One process per spool folder. Two ingests appending to the same segments (two brokers with local
 * ingest left on one INGEST_SPOOL_DIR) would interleave records and each replay and delete the other's:
 * readings acknowledged to devices would be lost. The owner writes `owner.json` (its pid and, on Linux,
 * its start time, so that a reused pid after a reboot or in a new container is not taken for a live
 * owner) and removes it at close; a file whose process is gone is taken over.
 */
import { readFileSync } from 'node:fs'
import { open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DomainError } from '../domain/errors.ts'

type Owner = { pid: number; startedAt: string | null }

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null off Linux. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? null
  } catch {
    return null
  }
}

function isAlive(owner: Owner): boolean {
  if (owner.pid === process.pid) return false // a file our own predecessor (same pid, new container) left
  if (owner.startedAt !== null) return processStartTime(owner.pid) === owner.startedAt
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseOwner(text: string): Owner | null {
  try {
    const raw = JSON.parse(text) as { pid?: unknown; startedAt?: unknown }
    if (typeof raw.pid !== 'number' || !Number.isInteger(raw.pid)) return null
    return { pid: raw.pid, startedAt: typeof raw.startedAt === 'string' ? raw.startedAt : null }
  } catch {
    return null
  }
}

/** Claims `dir` for this process; throws SPOOL_LOCKED when a live process owns it. Returns the release. */
export async function claimSpool(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, 'owner.json')
  const me: Owner = { pid: process.pid, startedAt: processStartTime(process.pid) }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx')
      try {
        await handle.writeFile(JSON.stringify(me))
        await handle.datasync()
      } finally {
        await handle.close()
      }
      return () => rm(file, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = parseOwner(await readFile(file, 'utf8').catch(() => ''))
    if (owner !== null && isAlive(owner)) {
      throw new DomainError(
        'SPOOL_LOCKED',
        `spool ${dir} is in use by process ${owner.pid}: give each ingest (each broker with BROKER_INGEST=local) its own INGEST_SPOOL_DIR`,
      )
    }
    // Left by a process that is gone (a crash): take it over.
    await rm(file, { force: true })
  }
  throw new DomainError('SPOOL_LOCKED', `spool ${dir}: could not claim ${file}`)
}
