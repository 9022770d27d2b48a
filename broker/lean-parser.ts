/**
 * Trims what mqtt-packet's parser keeps for each connection. A device holds its connection for days,
 * so everything its parser holds is among the ~125 heap objects that every full garbage collection
 * walks per connected device, and walking them is what stalls the event loop at 20,000 devices
 * (docs/benchmarks.md, "What limits each profile").
 *
 * - The parser keeps the bytes of the packet it is reading in a `bl` BufferListStream: a whole Duplex
 *   stream (readable and writable states, listener lists, bound callbacks: ~15 heap objects), of
 *   which it uses only the list methods, which `bl` also ships as a plain BufferList.
 * - It keeps the CONNECT packet as its settings, password included, for the connection's life, and
 *   reads only `protocolVersion` and `bridgeMode` from it.
 *
 * The parser is mqtt-packet's, reached through aedes' client: both fields are private. Each change is
 * made only when the field holds what is expected; anything else leaves the client as aedes built it
 * (broker/lean-parser.test.ts fails when a dependency update changes that).
 */
import bl from 'bl'

type ConnectSettings = { cmd?: unknown; protocolVersion?: unknown; bridgeMode?: unknown }
type ParserHolder = { _parser?: { _list?: unknown; settings?: ConnectSettings } }

// Where `bufferHolding` found its bytes, inside the buffer it returned: a number kept here rather
// than a pair returned, which would be one more object per read.
let foundAt = 0

/** The buffer holding bytes [offset, offset + bytes) of the list whole, or undefined. */
function bufferHolding(bufs: readonly Buffer[], offset: number, bytes: number): Buffer | undefined {
  if (!(offset >= 0)) return undefined
  let rest = offset
  for (let i = 0; i < bufs.length; i++) {
    const buf = bufs[i] as Buffer
    if (rest < buf.length) {
      if (rest + bytes > buf.length) return undefined
      foundAt = rest
      return buf
    }
    rest -= buf.length
  }
  return undefined
}

/**
 * bl's BufferList reads a number by slicing a view of its bytes first, after an `[index, offset]`
 * array to find them: two objects for each field mqtt-packet reads, about a dozen per PUBLISH (with
 * the topic's string), 11 % of the bytes the platform allocated per reading (docs/benchmarks.md, stop
 * 17). These read from the buffer that holds the bytes when one does, and leave bytes spread over two
 * buffers to bl. Everything else, and every result, is bl's (lean-parser.test.ts compares them).
 */
export class LeanBufferList extends bl.BufferList {}

type List = LeanBufferList & { _bufs: Buffer[] }
const blList = bl.BufferList.prototype
// On the prototype rather than as class methods: bl's types declare the read methods as properties.
Object.assign(LeanBufferList.prototype, {
  readUInt8(this: List, offset = 0): number {
    const buf = bufferHolding(this._bufs, offset, 1)
    return buf === undefined ? blList.readUInt8.call(this, offset) : (buf[foundAt] as number)
  },
  readUInt16BE(this: List, offset = 0): number {
    const buf = bufferHolding(this._bufs, offset, 2)
    return buf === undefined ? blList.readUInt16BE.call(this, offset) : buf.readUInt16BE(foundAt)
  },
  readUInt32BE(this: List, offset = 0): number {
    const buf = bufferHolding(this._bufs, offset, 4)
    return buf === undefined ? blList.readUInt32BE.call(this, offset) : buf.readUInt32BE(foundAt)
  },
  toString(this: List, encoding?: string, start?: number, end?: number): string {
    if (typeof start === 'number' && typeof end === 'number' && start <= end && end <= this.length) {
      const buf = bufferHolding(this._bufs, start, end - start)
      if (buf !== undefined) return buf.toString(encoding as BufferEncoding, foundAt, foundAt + (end - start))
    }
    return blList.toString.call(this, encoding, start, end)
  },
})

/** Swaps the parser's empty BufferListStream for a LeanBufferList; false if the client is not as expected. */
export function useLeanParserBuffer(client: object): boolean {
  const parser = (client as ParserHolder)._parser
  const list = parser?._list
  if (parser === undefined || !(list instanceof bl.BufferListStream) || list.length !== 0) return false
  parser._list = new LeanBufferList()
  return true
}

/**
 * Once the CONNECT is handled: the parser keeps the two settings it reads, not the packet (and the
 * device's secret in it). False if its settings are not a CONNECT packet.
 */
export function forgetConnectPacket(client: object): boolean {
  const parser = (client as ParserHolder)._parser
  const settings = parser?.settings
  if (parser === undefined || settings?.cmd !== 'connect') return false
  parser.settings = { protocolVersion: settings.protocolVersion, bridgeMode: settings.bridgeMode }
  return true
}
