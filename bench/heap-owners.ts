/**
 * Who holds the heap's objects: `tsx bench/heap-owners.ts <file.heapsnapshot> [--devices N] [--show OWNER]`
 * attributes every object of a V8 heap snapshot to an owner and prints, per owner, the objects and
 * bytes (divided by N, the devices connected when it was taken). A full garbage collection marks every
 * live object, so objects per connected device is what the platform's marking costs grow with.
 *
 * An object's owner is found by climbing its first strong retainer until one of: an aedes `Client`, a
 * `net.Socket` or its `TCP` handle (a connection's own), or a variable of a closure's scope named in
 * OWNER_VARIABLES (the platform's per-device maps: the registry's context cache, ingest's line
 * prefixes, the alerts engine's state). The rest is `other`: code, modules, and fixed tables such as
 * mqtt-packet's 65,536 cached number buffers. `--show OWNER` lists the kinds of object under one owner.
 *
 * A snapshot of the platform under load (the platform writes it on SIGUSR2):
 *   npm run bench -- --profile connections --connections 4000 --secret-cost fast --hold 40 \
 *     "--platform-node-options=--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp/snap"
 *   kill -USR2 <the platform's pid>     # during the hold
 */
import { readFileSync } from 'node:fs'
import { countOption, parseCli, requiredPositional } from './lib/cli.ts'

/** Closure-scope variables that hold per-device state, by the name they have in the source. */
const OWNER_VARIABLES = [
  'contextCache', // registry/registry.ts
  'siteCache',
  'tenantCache',
  'verifiedSecrets',
  'prefixes', // ingest/line-protocol.ts
  'windows', // alerts engine: redelivery windows, last status, events, last seen, counters
  'lastStatus',
  'recentEvents',
  'seen',
  'counters',
  'active',
  'states', // broker/broker.ts
  'connected',
  'parsedCache', // domain/topics.ts (bounded)
  'ring', // alerts/notify/sse.ts (bounded)
]
const OWNER_CLASSES = ['Client', 'Socket', 'TCP']

type Snapshot = {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const USAGE = 'usage: tsx bench/heap-owners.ts <file.heapsnapshot> [--devices N] [--show OWNER]'
const { values, positionals } = parseCli(
  {
    allowPositionals: true,
    options: { devices: { type: 'string', default: '1' }, show: { type: 'string' } },
  },
  USAGE,
)
const file = requiredPositional(positionals, USAGE)
const devices = countOption('devices', values.devices, USAGE)
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
const { meta } = snap.snapshot
const nodeFields = meta.node_fields.length
const edgeFields = meta.edge_fields.length
const [nodeTypes] = meta.node_types
const [edgeTypes] = meta.edge_types
const TYPE = meta.node_fields.indexOf('type')
const NAME = meta.node_fields.indexOf('name')
const SIZE = meta.node_fields.indexOf('self_size')
const EDGE_COUNT = meta.node_fields.indexOf('edge_count')
const EDGE_TYPE = meta.edge_fields.indexOf('type')
const EDGE_NAME = meta.edge_fields.indexOf('name_or_index')
const EDGE_TO = meta.edge_fields.indexOf('to_node')
const { nodes, edges, strings } = snap
const count = nodes.length / nodeFields

const typeOf = (n: number): string => nodeTypes[nodes[n * nodeFields + TYPE] ?? 0] ?? '?'
const nameOf = (n: number): string => strings[nodes[n * nodeFields + NAME] ?? 0] ?? ''
function label(n: number): string {
  const type = typeOf(n)
  return ['object', 'closure', 'native', 'hidden', 'array'].includes(type)
    ? `${type}:${nameOf(n).slice(0, 40)}`
    : type
}

// First strong retainer of every node, and the name of the edge it is held by.
const parent = new Int32Array(count).fill(-1)
const viaName = new Array<string>(count)
let e = 0
for (let n = 0; n < count; n++) {
  const edgeCount = nodes[n * nodeFields + EDGE_COUNT] ?? 0
  for (let k = 0; k < edgeCount; k++, e += edgeFields) {
    const to = (edges[e + EDGE_TO] ?? 0) / nodeFields
    const type = edgeTypes[edges[e + EDGE_TYPE] ?? 0]
    if (type === 'weak' || type === 'shortcut' || parent[to] !== -1) continue
    parent[to] = n
    viaName[to] = type === 'element' || type === 'hidden' ? '' : String(strings[edges[e + EDGE_NAME] ?? 0])
  }
}

function ownerOf(n: number): string {
  let current = n
  for (let depth = 0; depth < 14 && current !== -1; depth++) {
    if (typeOf(current) === 'object' && OWNER_CLASSES.includes(nameOf(current))) return nameOf(current)
    const up = parent[current] ?? -1
    if (
      up !== -1 &&
      label(up) === 'object:system / Context' &&
      OWNER_VARIABLES.includes(viaName[current] ?? '')
    )
      return `scope variable ${viaName[current]}`
    current = up
  }
  return 'other'
}

const byOwner = new Map<string, { objects: number; bytes: number }>()
const shown = new Map<string, number>()
for (let n = 0; n < count; n++) {
  const owner = ownerOf(n)
  const entry = byOwner.get(owner) ?? { objects: 0, bytes: 0 }
  entry.objects += 1
  entry.bytes += nodes[n * nodeFields + SIZE] ?? 0
  byOwner.set(owner, entry)
  if (values.show !== undefined && owner === values.show) {
    const up = parent[n] ?? -1
    const key = `${label(n)} <- ${up === -1 ? '(root)' : `${label(up)}.${viaName[n] ?? ''}`}`
    shown.set(key, (shown.get(key) ?? 0) + 1)
  }
}

const fixed = (x: number, digits = 1): string => x.toFixed(digits)
const out: string[] = []
out.push(`${count} objects in the snapshot, ${fixed(count / devices)} per device (${devices})\n\n`)
out.push('| owner | objects | per device | bytes per device |\n| --- | --- | --- | --- |\n')
for (const [owner, { objects, bytes }] of [...byOwner].sort((a, b) => b[1].objects - a[1].objects)) {
  out.push(`| ${owner} | ${objects} | ${fixed(objects / devices)} | ${fixed(bytes / devices, 0)} |\n`)
}
if (values.show !== undefined) {
  out.push(`\nunder ${values.show}:\n`)
  for (const [key, n] of [...shown].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    out.push(`${String(n).padStart(8)}  ${key}\n`)
  }
}
process.stdout.write(out.join(''))
