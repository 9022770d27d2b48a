/**
 * Gives a client's MQTT parser a plain buffer list in place of a stream.
 *
 * mqtt-packet's parser keeps the bytes of the packet it is reading in a `bl` BufferListStream: a
 * whole Duplex stream per connection (readable and writable states, listener lists, bound
 * callbacks: ~15 heap objects), of which it uses only the list methods, which `bl` also ships as a
 * plain BufferList (one object and its array). A device holds its connection for days, so those
 * objects are among the ~125 that every full garbage collection walks per connected device, and
 * walking them is what stalls the event loop at 20,000 devices (docs/benchmarks.md).
 *
 * The parser is mqtt-packet's, reached through aedes' client: both fields are private. The swap is
 * made only while the list is empty and is the BufferListStream expected; anything else leaves the
 * client as aedes built it (broker/lean-parser-buffer.test.ts fails when a dependency update does).
 */
import bl from 'bl'

type ParserHolder = { _parser?: { _list?: unknown } }

/** Swaps the parser's empty BufferListStream for a BufferList; false if the client is not as expected. */
export function useLeanParserBuffer(client: object): boolean {
  const parser = (client as ParserHolder)._parser
  const list = parser?._list
  if (parser === undefined || !(list instanceof bl.BufferListStream) || list.length !== 0) return false
  parser._list = new bl.BufferList()
  return true
}
