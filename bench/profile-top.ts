/**
 * Where a CPU profile's time went: `tsx bench/profile-top.ts <file.cpuprofile> [--top 30]` prints the
 * functions with the most self time, the same grouped by source file (node_modules by package), and
 * the most inclusive time per function of the project (what a flame graph shows as wide frames).
 * Profiles come from `npm run bench -- --cpu-prof DIR` (the platform runs under node --cpu-prof).
 */
import { readFileSync } from 'node:fs'
import { countOption, parseCli, requiredPositional } from './lib/cli.ts'

type CallFrame = { functionName: string; url: string; lineNumber: number }
type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
type CpuProfile = {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

const USAGE = 'usage: tsx bench/profile-top.ts <file.cpuprofile> [--top 30]'
const { values, positionals } = parseCli(
  { allowPositionals: true, options: { top: { type: 'string', default: '30' } } },
  USAGE,
)
const file = requiredPositional(positionals, USAGE)
const top = countOption('top', values.top, USAGE)
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile

// Self time per node from samples and their time deltas (µs); hitCount as a fallback.
const selfUs = new Map<number, number>()
if (profile.samples && profile.timeDeltas) {
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas?.[i + 1] ?? 0))
  })
} else {
  const perHit =
    (profile.endTime - profile.startTime) /
    Math.max(
      1,
      profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0),
    )
  for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * perHit)
}
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0)

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? '')
    return `${pkg}: ${rest.slice(pkg.includes('/') ? 2 : 1).join('/')}`
  }
  const i = url.indexOf('/work/main/')
  return i >= 0 ? url.slice(i + '/work/main/'.length) : url.replace(/^file:\/\//, '') || '(native)'
}
const label = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}`
function groupOf(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)'
  const s = shortUrl(f.url)
  const colon = s.indexOf(': ')
  return colon >= 0 && f.url.includes('node_modules/') ? s.slice(0, colon) : s
}

const byFunction = new Map<string, number>()
const byGroup = new Map<string, number>()
for (const n of profile.nodes) {
  const us = selfUs.get(n.id) ?? 0
  byFunction.set(label(n.callFrame), (byFunction.get(label(n.callFrame)) ?? 0) + us)
  byGroup.set(groupOf(n.callFrame), (byGroup.get(groupOf(n.callFrame)) ?? 0) + us)
}

// Inclusive time of the project's own functions (counted once per stack, even when recursive).
const children = new Map<number, number[]>()
for (const n of profile.nodes) children.set(n.id, n.children ?? [])
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const inclusive = new Map<string, number>()
function walk(id: number, onStack: Set<string>): number {
  const node = byId.get(id)
  if (!node) return 0
  let sum = selfUs.get(id) ?? 0
  const key = label(node.callFrame)
  const isOwn = node.callFrame.url.includes('/work/main/') && !node.callFrame.url.includes('node_modules')
  const isNew = isOwn && !onStack.has(key)
  if (isNew) onStack.add(key)
  for (const c of children.get(id) ?? []) sum += walk(c, onStack)
  if (isNew) {
    onStack.delete(key)
    inclusive.set(key, (inclusive.get(key) ?? 0) + sum)
  }
  return sum
}
const root = profile.nodes[0]
if (root) walk(root.id, new Set())

const pct = (us: number): string => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`
const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`
function print(title: string, m: Map<string, number>): void {
  process.stdout.write(`\n${title}\n`)
  for (const [k, us] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${ms(us)} ${pct(us)}  ${k}\n`)
  }
}
// Stretches without an idle sample: the event loop did not get back to I/O for that long.
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
function ownFrame(id: number): string {
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)?.callFrame
    if (f?.url.includes('/work/main/') && !f.url.includes('node_modules')) return label(f)
  }
  const f = byId.get(id)?.callFrame
  return f ? label(f) : '?'
}
type Stretch = { startUs: number; us: number; frames: Map<string, number> }
const stretches: Stretch[] = []
if (profile.samples && profile.timeDeltas) {
  let t = profile.startTime
  let current: Stretch | null = null
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas?.[i + 1] ?? 0
    t += profile.timeDeltas?.[i] ?? 0
    const isIdle = byId.get(id)?.callFrame.functionName === '(idle)'
    if (isIdle) {
      if (current) stretches.push(current)
      current = null
      return
    }
    current ??= { startUs: t - profile.startTime, us: 0, frames: new Map() }
    current.us += dt
    const frame = ownFrame(id)
    current.frames.set(frame, (current.frames.get(frame) ?? 0) + dt)
  })
  if (current) stretches.push(current)
}

process.stdout.write(`${file}: ${(totalUs / 1e6).toFixed(1)} s sampled\n`)
print('self time by function', byFunction)
print('self time by file / package', byGroup)
print('inclusive time of project functions', inclusive)
process.stdout.write('\nlongest stretches without idle (event loop busy), with their main project frames\n')
for (const st of stretches.sort((a, b) => b.us - a.us).slice(0, Math.min(top, 15))) {
  const frames = [...st.frames.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, us]) => `${k} ${((us / st.us) * 100).toFixed(0)}%`)
    .join('; ')
  process.stdout.write(`${ms(st.us)} at ${(st.startUs / 1e6).toFixed(1)} s: ${frames}\n`)
}
