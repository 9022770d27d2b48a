/**
 * mqtt-packet, the MQTT codec under aedes and mqtt.js, calls `debug()` about fifteen times for each
 * packet it reads or writes, and `debug` 4.x collects its arguments into a new array on every call
 * before it looks whether its namespace is on. In the throughput benchmark that was 17 % of the bytes
 * the platform allocated, for output nobody had asked for (docs/benchmarks.md, stop 17).
 *
 * Importing this module loads a second copy of mqtt-packet's files while `debug` hands each of their
 * namespaces that is off an empty function, and points mqtt-packet's exports (`parser`, `generate`,
 * `writeToStream`) at that copy. aedes, mqtt.js and our own code call mqtt-packet through its exports
 * object, at call time, so they all use the quiet copy from then on, whatever loaded mqtt-packet
 * first. Node's module cache is left as it was, and every other package gets the real `debug`.
 *
 * `DEBUG=mqtt-packet:*` set when the process starts still logs: a namespace that is on gets the real
 * function. Turning mqtt-packet's output on later, with `debug.enable()` in a running process, no
 * longer reaches it.
 */
import { createRequire } from 'node:module'
import { dirname, sep } from 'node:path'

type DebugFactory = ((namespace: string) => unknown) & { enabled(namespace: string): boolean }
type MqttPacketExports = Record<string | symbol, unknown>

/** What happened to one copy of mqtt-packet. */
export type QuietOutcome = 'quieted' | 'was-quiet'

const QUIET = Symbol.for('liftscale.quiet-mqtt-packet')

function silentDebug(namespace: string): () => void {
  const silent = (): void => undefined
  return Object.assign(silent, {
    namespace,
    enabled: false,
    extend: (sub: string, delimiter = ':') => silentDebug(`${namespace}${delimiter}${sub}`),
    destroy: () => false,
  })
}

function quiet(mqttPacketPath: string): QuietOutcome {
  const requireThere = createRequire(mqttPacketPath)
  const shared = requireThere(mqttPacketPath) as MqttPacketExports
  if (shared[QUIET] === true) return 'was-quiet'
  // mqtt-packet's own files, not those of packages nested under it.
  const packageDir = dirname(mqttPacketPath) + sep
  const isOwnFile = (file: string): boolean =>
    file.startsWith(packageDir) && !file.slice(packageDir.length).includes(`node_modules${sep}`)
  const cache = requireThere.cache
  const loaded = Object.keys(cache).filter(isOwnFile)
  const setAside = loaded.map((file) => [file, cache[file]] as const)
  const debugPath = requireThere.resolve('debug')
  const realDebug = requireThere('debug') as DebugFactory
  const debugEntry = cache[debugPath]
  if (debugEntry === undefined) throw new Error(`debug is not in the module cache at ${debugPath}`)
  let copy: MqttPacketExports
  try {
    for (const file of loaded) delete cache[file]
    debugEntry.exports = Object.assign(
      (namespace: string) => (realDebug.enabled(namespace) ? realDebug(namespace) : silentDebug(namespace)),
      realDebug,
    )
    copy = requireThere(mqttPacketPath) as MqttPacketExports
  } finally {
    debugEntry.exports = realDebug
    for (const file of Object.keys(cache).filter(isOwnFile)) delete cache[file]
    for (const [file, entry] of setAside) cache[file] = entry
  }
  for (const key of Object.keys(copy)) shared[key] = copy[key]
  Object.defineProperty(shared, QUIET, { value: true })
  return 'quieted'
}

/** Every copy of mqtt-packet the platform loads: ours, aedes' and mqtt.js' (npm may nest one). */
export function mqttPacketPaths(): string[] {
  const requireHere = createRequire(import.meta.url)
  const paths = new Set<string>([requireHere.resolve('mqtt-packet')])
  for (const user of ['aedes', 'mqtt']) {
    paths.add(createRequire(requireHere.resolve(user)).resolve('mqtt-packet'))
  }
  return [...paths]
}

/** Per copy of mqtt-packet (by path): quieted by this import, or by an earlier one. */
export const MQTT_PACKET_DEBUG: ReadonlyMap<string, QuietOutcome> = new Map(
  mqttPacketPaths().map((path) => [path, quiet(path)]),
)
