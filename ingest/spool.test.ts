import { spawn } from 'node:child_process'
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../domain/logger.ts'
import { LineBatch } from './line-batch.ts'
import { createSpool, type SpoolOptions } from './spool.ts'
import { processStartTime } from './spool-owner.ts'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spool-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function spoolIn(dir: string, options: Partial<SpoolOptions> = {}) {
  return createSpool({
    dir,
    maxBytes: 10_000_000,
    segmentBytes: 1_000_000,
    logger: silentLogger(),
    ...options,
  })
}

const batch = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `m,device_id=d v=${from + i}i ${from + i}`)

async function drain(spool: ReturnType<typeof createSpool>, maxLines = 1000): Promise<string[]> {
  const out: string[] = []
  for (;;) {
    const chunk = await spool.peek(maxLines)
    if (chunk === null) return out
    out.push(...chunk.lines)
    await spool.commit(chunk)
  }
}

describe('spool', () => {
  it('gives batches back in order, and forgets them once committed', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    await Promise.all([spool.append(batch(0, 3)), spool.append(batch(3, 2)), spool.append(batch(5, 4))])
    expect(spool.depth()).toMatchObject({ records: 3, lines: 9 })
    const first = await spool.peek(5)
    // Whole records only: 3 + 2 lines fit in 5, the third record does not.
    expect(first?.lines).toEqual(batch(0, 5))
    if (first) await spool.commit(first)
    expect(spool.depth()).toMatchObject({ records: 1, lines: 4 })
    expect(await drain(spool)).toEqual(batch(5, 4))
    expect(spool.depth()).toEqual({ records: 0, lines: 0, bytes: 0, oldestAt: null })
    await spool.close()
    // Nothing left to replay after a restart.
    const again = spoolIn(dir)
    await again.open()
    expect(again.isEmpty()).toBe(true)
    await again.close()
  })

  it('writes a batch held as bytes as the same record as its lines', async () => {
    const lines = [...batch(0, 50), 'm,site=桥口区 note="汉正街" 99']
    const asBytes = new LineBatch()
    for (const line of lines) asBytes.push(line)
    const dirs = [tempDir(), tempDir()]
    for (const [i, dir] of dirs.entries()) {
      const spool = spoolIn(dir, { now: () => 1_790_000_000_000 })
      await spool.open()
      await spool.append(i === 0 ? lines : asBytes)
      await spool.close()
    }
    const segments = dirs.map((dir) => readdirSync(dir).filter((f) => f.endsWith('.seg')))
    expect(segments[0]?.length).toBeGreaterThan(0)
    expect(segments[1]).toEqual(segments[0])
    for (const name of segments[0] ?? []) {
      expect(readFileSync(join(dirs[1] ?? '', name)).equals(readFileSync(join(dirs[0] ?? '', name)))).toBe(
        true,
      )
    }
    const again = spoolIn(dirs[1] ?? '')
    await again.open()
    expect(again.depth()).toMatchObject({ records: 1, lines: lines.length })
    expect(await drain(again)).toEqual(lines)
    await again.close()
  })

  it('keeps what was not committed across a restart, and does not replay what was', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    for (let i = 0; i < 10; i++) await spool.append(batch(i * 10, 10))
    const chunk = await spool.peek(30)
    if (chunk) await spool.commit(chunk)
    // No close(): as after a crash.
    const after = spoolIn(dir)
    await after.open()
    expect(after.depth().lines).toBe(70)
    expect(await drain(after)).toEqual(batch(30, 70))
    await after.close()
    await spool.close()
  })

  it('cuts a record torn by a crash and keeps every complete one', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    await spool.append(batch(0, 5))
    await spool.append(batch(5, 5))
    await spool.close()
    const [segment] = readdirSync(dir).filter((f) => f.endsWith('.seg'))
    if (segment === undefined) throw new Error('no segment written')
    const file = join(dir, segment)
    const before = statSync(file).size
    // Half a header and some payload: what a crash in the middle of a write leaves.
    appendFileSync(file, Buffer.from([0x4c, 0x53, 0x50, 0x31, 0xff, 0, 0, 0, 1, 2, 3]))
    const after = spoolIn(dir)
    await after.open()
    expect(statSync(file).size).toBe(before)
    expect(after.depth().lines).toBe(10)
    await after.append(batch(10, 1))
    expect(await drain(after)).toEqual(batch(0, 11))
    await after.close()
  })

  it('refuses a record whose bytes changed', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    await spool.append(batch(0, 2))
    await spool.close()
    const [segment] = readdirSync(dir).filter((f) => f.endsWith('.seg'))
    if (segment === undefined) throw new Error('no segment written')
    // A second record whose crc does not match its payload.
    const good = spoolIn(dir)
    await good.open()
    await good.append(['x v=1i 1'])
    await good.close()
    const files = readdirSync(dir).filter((f) => f.endsWith('.seg'))
    const last = files.at(-1)
    if (last === undefined) throw new Error('no segment')
    const { openSync, writeSync, closeSync } = await import('node:fs')
    const fd = openSync(join(dir, last), 'r+')
    writeSync(fd, Buffer.from('y'), 0, 1, 24)
    closeSync(fd)
    const reopened = spoolIn(dir)
    await reopened.open()
    expect(await drain(reopened)).toEqual(batch(0, 2))
    await reopened.close()
  })

  it('rolls segments and deletes those fully replayed', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir, { segmentBytes: 300 })
    await spool.open()
    for (let i = 0; i < 20; i++) await spool.append(batch(i * 5, 5))
    const segments = () => readdirSync(dir).filter((f) => f.endsWith('.seg')).length
    expect(segments()).toBeGreaterThan(5)
    const chunk = await spool.peek(50)
    if (chunk) await spool.commit(chunk)
    const midway = segments()
    expect(midway).toBeLessThan(20)
    expect(await drain(spool, 7)).toEqual(batch(50, 50))
    expect(segments()).toBe(0)
    // Appending after everything was deleted starts a fresh segment that a restart still sees.
    await spool.append(batch(100, 1))
    await spool.close()
    const again = spoolIn(dir, { segmentBytes: 300 })
    await again.open()
    expect(await drain(again)).toEqual(batch(100, 1))
    await again.close()
  })

  it('makes appends wait while full, and never drops one', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir, { maxBytes: 300 })
    await spool.open()
    await spool.append(batch(0, 5))
    await spool.append(batch(5, 5))
    let isThirdDone = false
    const third = spool.append(batch(10, 5)).then(() => {
      isThirdDone = true
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(isThirdDone).toBe(false)
    const chunk = await spool.peek(5)
    if (chunk) await spool.commit(chunk)
    await third
    expect(isThirdDone).toBe(true)
    expect(await drain(spool)).toEqual(batch(5, 10))
    await spool.close()
  })

  it('keeps a record whose fsync was under way while the last one before it was committed', async () => {
    // The replayer commits the last record while ingest appends the next (InfluxDB back, a batch
    // still on its way to the spool): the segment both live in must stay.
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    await spool.append(batch(0, 2))
    const chunk = await spool.peek(10)
    const appended = spool.append(batch(2, 2))
    if (chunk) await spool.commit(chunk)
    await appended
    expect(spool.depth()).toMatchObject({ records: 1, lines: 2 })
    expect(await drain(spool)).toEqual(batch(2, 2))
    await spool.close()
  })

  it('keeps that record across a restart when it was not yet replayed (it was acknowledged)', async () => {
    const dir = tempDir()
    const spool = spoolIn(dir)
    await spool.open()
    await spool.append(batch(0, 2))
    const chunk = await spool.peek(10)
    const appended = spool.append(batch(2, 2))
    if (chunk) await spool.commit(chunk)
    await appended
    await spool.close()
    const again = spoolIn(dir)
    await again.open()
    expect(await drain(again)).toEqual(batch(2, 2))
    await again.close()
  })
})

describe('spool ownership (one process per folder)', () => {
  it('refuses a folder a live process holds, takes over one whose process is gone, and lets go at close', async () => {
    const dir = tempDir()
    // Another live process (a sleeping child) holds the folder, as a second broker would.
    const other = spawn('sleep', ['30'])
    onTestFinished(() => {
      other.kill('SIGKILL')
    })
    const pid = other.pid ?? 0
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid, startedAt: processStartTime(pid) }))
    const refused = spoolIn(dir).open()
    await expect(refused).rejects.toMatchObject({ code: 'SPOOL_LOCKED' })
    await expect(refused).rejects.toThrow(`in use by process ${pid}`)

    // The same pid with another start time is a reused pid, not the owner: taken over.
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid, startedAt: '1' }))
    const spool = spoolIn(dir)
    await spool.open()
    expect(JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8'))).toMatchObject({ pid: process.pid })
    await spool.append(batch(0, 2))
    await spool.close()
    expect(existsSync(join(dir, 'owner.json'))).toBe(false)

    // Left by a crashed process (gone): taken over, and what it spooled is still there.
    other.kill('SIGKILL')
    await new Promise((resolve) => other.once('exit', resolve))
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid, startedAt: null }))
    const again = spoolIn(dir)
    await again.open()
    expect(await drain(again)).toEqual(batch(0, 2))
    await again.close()
  })
})
