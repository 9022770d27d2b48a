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

/** Swaps the parser's empty BufferListStream for a BufferList; false if the client is not as expected. */
export function useLeanParserBuffer(client: object): boolean {
  const parser = (client as ParserHolder)._parser
  const list = parser?._list
  if (parser === undefined || !(list instanceof bl.BufferListStream) || list.length !== 0) return false
  parser._list = new bl.BufferList()
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
