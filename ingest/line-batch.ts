/**
 * The lines of one batch, kept as the UTF-8 bytes of the request body rather than as strings.
 *
 * A line waits in its batch until InfluxDB has it: a few hundred ms at full rate, past two or three
 * young-generation collections. As a string it was copied by each of them and then promoted to the old
 * generation, to be marked and swept there too (lines were a fifth of the bytes the platform
 * allocated, "Profiles" in docs/benchmarks.md). Written into a buffer as it arrives, the string dies
 * young and the bytes live outside the JS heap, where the collector does not move them; the request
 * body is those bytes, with no `join` of the batch.
 *
 * Only the paths that need single lines (a batch InfluxDB refused, the spool) read them back.
 */

const FIRST_CHUNK_BYTES = 16 * 1024
const MAX_CHUNK_BYTES = 1024 * 1024
const NEWLINE = 0x0a

export class LineBatch {
  /** Lines pushed. */
  length = 0
  /** Lines pushed as counted (ingest counts readings apart from its own health points). */
  counted = 0
  /** Full chunks, trimmed to their bytes. */
  private readonly full: Buffer[] = []
  private chunk: Buffer = Buffer.allocUnsafe(FIRST_CHUNK_BYTES)
  private at = 0
  private bytes = 0

  /** Appends one line (it holds no line break: line-protocol.ts writes one reading per line). */
  push(line: string, isCounted = true): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: room for that bound, plus the line break.
    const bound = line.length * 3 + 1
    if (this.chunk.length - this.at < bound) this.nextChunk(bound)
    const written = this.chunk.write(line, this.at, 'utf8')
    this.chunk[this.at + written] = NEWLINE
    this.at += written + 1
    this.bytes += written + 1
    this.length++
    if (isCounted) this.counted++
  }

  /** The request body: every line, each ended by a line break. */
  body(): Buffer {
    const last = this.chunk.subarray(0, this.at)
    return this.full.length === 0 ? last : Buffer.concat([...this.full, last], this.bytes)
  }

  /** The lines back, in order, as strings. */
  toLines(): string[] {
    if (this.length === 0) return []
    const text = this.body().toString('utf8')
    return text.slice(0, -1).split('\n')
  }

  /** One batch holding the lines of several, in order. */
  static concat(batches: readonly LineBatch[]): LineBatch {
    const out = new LineBatch()
    const parts = batches.map((b) => b.body())
    const bytes = parts.reduce((sum, part) => sum + part.length, 0)
    out.chunk = Buffer.concat(parts, bytes)
    out.at = out.bytes = bytes
    out.length = batches.reduce((sum, b) => sum + b.length, 0)
    out.counted = batches.reduce((sum, b) => sum + b.counted, 0)
    return out
  }

  private nextChunk(atLeast: number): void {
    if (this.at > 0) this.full.push(this.chunk.subarray(0, this.at))
    // Doubling, up to 1 MiB: a batch of a few lines stays small, a full one takes a few chunks.
    const size = Math.max(atLeast, Math.min(MAX_CHUNK_BYTES, this.chunk.length * 2))
    this.chunk = Buffer.allocUnsafe(size)
    this.at = 0
  }
}
