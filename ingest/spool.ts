/**
 * The spool: an append-only log on disk of every batch InfluxDB has not (yet) accepted. A batch is
 * acknowledged to MQTT only once it is here and fsync'd, so a crash, a full client buffer or an InfluxDB
 * outage loses nothing; the replayer sends the records back, oldest first, once InfluxDB answers.
 *
 * Layout: `DIR/000000000001.seg`, … segment files of records, and `DIR/cursor.json`, the position up to
 * which records are known to be in InfluxDB. Record framing (little-endian):
 *
 *   magic u32 'LSP1' | payload length u32 | lines u32 | created at f64 (ms) | crc32 u32 | payload
 *
 * The crc covers lines, created-at and payload. A record torn by a crash (short, or crc mismatch) at
 * the end of the last segment is cut off on open; it was never fsync'd, so never acknowledged. The
 * cursor is written without fsync: after a crash a few records may be replayed twice, which InfluxDB
 * absorbs (same series and time = the same point).
 */
import { constants } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { DomainError } from '../domain/errors.ts'
import type { Logger } from '../domain/logger.ts'
import { LineBatch } from './line-batch.ts'
import { claimSpool } from './spool-owner.ts'

const MAGIC = 0x3150534c // 'LSP1' read as little-endian u32
const HEADER_BYTES = 24
const SEGMENT_PATTERN = /^(\d{12})\.seg$/

export type SpoolOptions = {
  dir: string
  /** Bytes of records not yet in InfluxDB at most; an append waits beyond it (never drops). */
  maxBytes: number
  /** A new segment file is started past this size; consumed segments are deleted whole. */
  segmentBytes: number
  logger: Logger
  now?: () => number
}

export type SpoolDepth = {
  records: number
  lines: number
  bytes: number
  /** Creation time (ms) of the oldest record not yet in InfluxDB; null when empty. */
  oldestAt: number | null
}

/** Records taken from the head of the spool; hand it back to `commit` once InfluxDB has them. */
export type SpoolChunk = { lines: string[]; records: number; lastSegment: number; endOffset: number }

type IndexEntry = { segment: number; offset: number; size: number; lines: number; createdAt: number }

type PendingAppend = {
  buffer: Buffer
  lines: number
  createdAt: number
  resolve: () => void
  reject: (err: unknown) => void
}

const segmentName = (n: number): string => `${String(n).padStart(12, '0')}.seg`

function encodeRecord(lines: readonly string[] | LineBatch, createdAt: number): Buffer {
  // The lines joined by line breaks; a batch's bytes are that already, with one more break at the end.
  const payload =
    lines instanceof LineBatch ? lines.body().subarray(0, -1) : Buffer.from(lines.join('\n'), 'utf8')
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length)
  record.writeUInt32LE(MAGIC, 0)
  record.writeUInt32LE(payload.length, 4)
  record.writeUInt32LE(lines.length, 8)
  record.writeDoubleLE(createdAt, 12)
  payload.copy(record, HEADER_BYTES)
  record.writeUInt32LE(crc32(payload, crc32(record.subarray(8, 20))), 20)
  return record
}

type ParsedRecord = { offset: number; size: number; lines: number; createdAt: number }

/** Parses records from a segment; `validBytes` < length when the tail is torn or corrupt. */
function parseSegment(data: Buffer): { records: ParsedRecord[]; validBytes: number } {
  const records: ParsedRecord[] = []
  let offset = 0
  while (offset + HEADER_BYTES <= data.length) {
    if (data.readUInt32LE(offset) !== MAGIC) break
    const length = data.readUInt32LE(offset + 4)
    const end = offset + HEADER_BYTES + length
    if (end > data.length) break
    const crc = crc32(
      data.subarray(offset + HEADER_BYTES, end),
      crc32(data.subarray(offset + 8, offset + 20)),
    )
    if (crc !== data.readUInt32LE(offset + 20)) break
    records.push({
      offset,
      size: end - offset,
      lines: data.readUInt32LE(offset + 8),
      createdAt: data.readDoubleLE(offset + 12),
    })
    offset = end
  }
  return { records, validBytes: offset }
}

export type Spool = ReturnType<typeof createSpool>

export function createSpool(options: SpoolOptions) {
  const { dir, logger } = options
  const now = options.now ?? Date.now
  const cursorFile = join(dir, 'cursor.json')

  // Records not yet in InfluxDB, oldest first (index[head..]).
  let index: IndexEntry[] = []
  let head = 0
  let liveLines = 0
  let liveBytes = 0
  // Bytes promised to appends waiting for their write, so the bound holds for them too.
  let reservedBytes = 0

  let active: { segment: number; handle: FileHandle; size: number } | null = null
  let nextSegment = 1
  const readHandles = new Map<number, FileHandle>()
  const segmentsOnDisk = new Set<number>()

  let pending: PendingAppend[] = []
  let isWriting = false
  let isOpen = false
  let isClosing = false
  let releaseOwnership: (() => Promise<void>) | null = null
  const spaceWaiters: Array<() => void> = []
  // File mutations (writes, deletions) run one after another.
  let chain: Promise<unknown> = Promise.resolve()
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn)
    chain = run.catch(() => undefined)
    return run
  }

  async function readCursor(): Promise<{ segment: number; offset: number }> {
    try {
      const raw: unknown = JSON.parse(await readFile(cursorFile, 'utf8'))
      if (typeof raw === 'object' && raw !== null && 'segment' in raw && 'offset' in raw) {
        const segment = Number(raw.segment)
        const offset = Number(raw.offset)
        if (Number.isInteger(segment) && Number.isInteger(offset)) return { segment, offset }
      }
      logger.warn({ file: cursorFile }, 'spool cursor unreadable: replaying the whole spool')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn({ err, file: cursorFile }, 'spool cursor unreadable: replaying the whole spool')
      }
    }
    return { segment: 0, offset: 0 }
  }

  async function writeCursor(segment: number, offset: number): Promise<void> {
    const tmp = `${cursorFile}.tmp`
    await writeFile(tmp, JSON.stringify({ segment, offset }))
    await rename(tmp, cursorFile)
  }

  async function syncDir(): Promise<void> {
    const handle = await open(dir, constants.O_RDONLY)
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  async function deleteSegment(segment: number): Promise<void> {
    const handle = readHandles.get(segment)
    readHandles.delete(segment)
    await handle?.close()
    segmentsOnDisk.delete(segment)
    await rm(join(dir, segmentName(segment)), { force: true })
  }

  function wakeSpaceWaiters(): void {
    while (spaceWaiters.length > 0 && hasSpaceFor(0)) spaceWaiters.shift()?.()
  }

  function hasSpaceFor(bytes: number): boolean {
    const used = liveBytes + reservedBytes
    // An empty spool takes any record, however large: otherwise it could never be written.
    return used === 0 || used + bytes <= options.maxBytes
  }

  async function writePending(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending
      pending = []
      try {
        if (active === null || active.size >= options.segmentBytes) {
          if (active !== null) await active.handle.close()
          const segment = nextSegment++
          const handle = await open(join(dir, segmentName(segment)), 'a')
          segmentsOnDisk.add(segment)
          // The new file's directory entry must survive a power cut as well as its content.
          await syncDir()
          active = { segment, handle, size: 0 }
        }
        const target = active
        await target.handle.writev(batch.map((p) => p.buffer))
        await target.handle.datasync()
        for (const p of batch) {
          index.push({
            segment: target.segment,
            offset: target.size,
            size: p.buffer.length,
            lines: p.lines,
            createdAt: p.createdAt,
          })
          target.size += p.buffer.length
          liveLines += p.lines
          liveBytes += p.buffer.length
          reservedBytes -= p.buffer.length
          p.resolve()
        }
      } catch (err) {
        logger.error({ err, dir }, 'spool write failed: the batch stays unacknowledged')
        // The file may hold part of this write; start a new segment so the next records are clean.
        if (active !== null) {
          await active.handle.close().catch(() => undefined)
          active = null
        }
        for (const p of batch) {
          reservedBytes -= p.buffer.length
          p.reject(new DomainError('SPOOL_WRITE_FAILED', 'spool write failed', { cause: err }))
        }
        wakeSpaceWaiters()
      }
    }
  }

  function kickWriter(): void {
    if (isWriting) return
    isWriting = true
    void serial(writePending).finally(() => {
      isWriting = false
      if (pending.length > 0) kickWriter()
    })
  }

  async function readRecord(entry: IndexEntry): Promise<Buffer> {
    let handle = readHandles.get(entry.segment)
    if (handle === undefined) {
      handle = await open(join(dir, segmentName(entry.segment)), 'r')
      readHandles.set(entry.segment, handle)
    }
    const buffer = Buffer.allocUnsafe(entry.size - HEADER_BYTES)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, entry.offset + HEADER_BYTES)
    if (bytesRead !== buffer.length) {
      throw new DomainError('SPOOL_CORRUPT', `short read in spool segment ${entry.segment}`)
    }
    return buffer
  }

  /** Rebuilds the index from the segments on disk, cutting a torn tail, deleting consumed segments. */
  async function recover(): Promise<void> {
    const cursor = await readCursor()
    const segments = (await readdir(dir))
      .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b)
    index = []
    head = 0
    liveLines = 0
    liveBytes = 0
    for (const [i, segment] of segments.entries()) {
      const file = join(dir, segmentName(segment))
      segmentsOnDisk.add(segment)
      const data = await readFile(file)
      const { records, validBytes } = parseSegment(data)
      if (validBytes < data.length) {
        const isLast = i === segments.length - 1
        if (isLast) {
          logger.warn(
            { segment, tornBytes: data.length - validBytes },
            'spool: cutting a record torn by a crash (it was never acknowledged)',
          )
        } else {
          logger.error(
            { segment, corruptBytes: data.length - validBytes },
            'spool: corrupt data in the middle of the spool; the rest of this segment is skipped',
          )
        }
        const handle = await open(file, 'r+')
        try {
          await handle.truncate(validBytes)
          await handle.sync()
        } finally {
          await handle.close()
        }
      }
      for (const record of records) {
        const isConsumed =
          segment < cursor.segment || (segment === cursor.segment && record.offset < cursor.offset)
        if (isConsumed) continue
        index.push({ segment, ...record })
        liveLines += record.lines
        liveBytes += record.size
      }
      nextSegment = Math.max(nextSegment, segment + 1)
    }
    // Numbers keep growing across runs: a new segment must never sort before the cursor.
    nextSegment = Math.max(nextSegment, cursor.segment + 1)
    // Segments holding nothing unconsumed are done with.
    const live = new Set(index.map((e) => e.segment))
    for (const segment of segments) if (!live.has(segment)) await deleteSegment(segment)
  }

  return {
    /** Creates the folder, recovers what a previous run left (cutting a torn tail), deletes consumed segments. */
    async open(): Promise<void> {
      if (isOpen) return
      await mkdir(dir, { recursive: true })
      releaseOwnership = await claimSpool(dir)
      try {
        await recover()
      } catch (err) {
        await releaseOwnership()
        releaseOwnership = null
        throw err
      }
      isOpen = true
      if (index.length > 0) {
        logger.info(
          { records: index.length, lines: liveLines, bytes: liveBytes },
          'spool holds readings not yet in InfluxDB',
        )
      }
    },

    /** Appends one batch; resolves once it is fsync'd. Waits while the spool is full. */
    async append(lines: readonly string[] | LineBatch): Promise<void> {
      if (!isOpen || isClosing) throw new DomainError('SPOOL_CLOSED', 'spool is not open')
      if (lines.length === 0) return
      const createdAt = now()
      const buffer = encodeRecord(lines, createdAt)
      while (!hasSpaceFor(buffer.length)) {
        await new Promise<void>((resolve) => spaceWaiters.push(resolve))
        if (isClosing) throw new DomainError('SPOOL_CLOSED', 'spool closed while waiting for space')
      }
      reservedBytes += buffer.length
      return new Promise<void>((resolve, reject) => {
        pending.push({ buffer, lines: lines.length, createdAt, resolve, reject })
        kickWriter()
      })
    },

    /** The oldest records, whole, up to `maxLines` lines (at least one record); null when empty. */
    async peek(maxLines: number): Promise<SpoolChunk | null> {
      if (head >= index.length) return null
      const lines: string[] = []
      let records = 0
      let last: IndexEntry | undefined
      for (let i = head; i < index.length; i++) {
        const entry = index[i]
        if (entry === undefined) break
        if (records > 0 && lines.length + entry.lines > maxLines) break
        const payload = await readRecord(entry)
        for (const line of payload.toString('utf8').split('\n')) lines.push(line)
        records++
        last = entry
      }
      if (last === undefined) return null
      return { lines, records, lastSegment: last.segment, endOffset: last.offset + last.size }
    },

    /** Marks the chunk's records as in InfluxDB: frees their space, deletes segments no longer needed. */
    async commit(chunk: SpoolChunk): Promise<void> {
      for (let i = 0; i < chunk.records; i++) {
        const entry = index[head]
        if (entry === undefined) break
        head++
        liveLines -= entry.lines
        liveBytes -= entry.size
      }
      if (head > 1024 && head * 2 > index.length) {
        index = index.slice(head)
        head = 0
      }
      wakeSpaceWaiters()
      await serial(async () => {
        // Read here, in turn with the writes: a write under way when commit was called may since have
        // put records in the active segment (fsync'd, so acknowledged), and that segment must stay.
        const firstLive = index[head]?.segment ?? Number.POSITIVE_INFINITY
        await writeCursor(chunk.lastSegment, chunk.endOffset)
        // Everything before the first live record is done with; the segment being appended to stays
        // unless it is fully consumed and nothing is being written.
        for (const segment of [...segmentsOnDisk].sort((a, b) => a - b)) {
          if (segment >= firstLive) break
          if (active !== null && segment === active.segment) {
            if (pending.length > 0 || firstLive !== Number.POSITIVE_INFINITY) continue
            await active.handle.close()
            active = null
          }
          await deleteSegment(segment)
        }
      })
    },

    depth(): SpoolDepth {
      return {
        records: index.length - head,
        lines: liveLines,
        bytes: liveBytes,
        oldestAt: index[head]?.createdAt ?? null,
      }
    },

    isEmpty(): boolean {
      return head >= index.length
    },

    /** Waits for appends under way, then closes the files. Appends waiting for space are refused. */
    async close(): Promise<void> {
      if (!isOpen) return
      isClosing = true
      for (const wake of spaceWaiters.splice(0)) wake()
      await serial(async () => {
        await writePending()
        if (active !== null) await active.handle.close()
        active = null
        for (const handle of readHandles.values()) await handle.close()
        readHandles.clear()
      })
      await releaseOwnership?.()
      releaseOwnership = null
      isOpen = false
      isClosing = false
    },
  }
}
