import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * Runs an ES module script in a fresh Node process (module caches are per process): loads mqtt-packet,
 * optionally imports `quietFrom` (quiet-mqtt-packet.ts, or a module that imports it), switches
 * mqtt-packet's debug output on at run time, round-trips a PUBLISH through mqtt-packet's exports and
 * prints what it parsed and the outcome per copy.
 */
function run(options: { quietFrom?: string; twice?: boolean; env?: Record<string, string> }) {
  const quietModule = join(ROOT, 'domain', 'quiet-mqtt-packet.ts')
  const lines = [
    `import { createRequire } from 'node:module'`,
    `const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})`,
    // Loaded first, as aedes does: the quieting must not depend on coming before it.
    `const mqttPacket = require('mqtt-packet')`,
    options.quietFrom ? `await import(${JSON.stringify(join(ROOT, options.quietFrom))})` : '',
    options.twice ? `await import(${JSON.stringify(`${quietModule}?again`)})` : '',
    options.quietFrom
      ? `const { MQTT_PACKET_DEBUG } = await import(${JSON.stringify(options.twice ? `${quietModule}?again` : quietModule)})`
      : 'const MQTT_PACKET_DEBUG = new Map()',
    `require('debug').enable((process.env.DEBUG ? process.env.DEBUG + ',' : '') + 'mqtt-packet:*')`,
    `const parser = mqttPacket.parser({ protocolVersion: 4 })`,
    `parser.on('packet', (p) => console.log(JSON.stringify({ topic: p.topic, payload: String(p.payload), messageId: p.messageId })))`,
    `parser.parse(mqttPacket.generate({ cmd: 'publish', topic: 'v1/scales/SC-1/status', payload: Buffer.from('{"seq":1}'), qos: 1, messageId: 7, dup: false, retain: false }))`,
    `console.log(JSON.stringify([...MQTT_PACKET_DEBUG.values()]))`,
  ]
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', lines.join('\n')],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, DEBUG: '', DEBUG_COLORS: 'no', ...options.env },
    },
  )
  const [parsed, outcomes] = out.stdout.trim().split('\n')
  return {
    status: out.status,
    parsed: parsed === undefined ? null : JSON.parse(parsed),
    outcomes: outcomes === undefined ? null : (JSON.parse(outcomes) as string[]),
    logged: out.stderr.split('\n').filter((l) => l.includes('mqtt-packet:')).length,
    stderr: out.stderr,
  }
}

const PARSED = { topic: 'v1/scales/SC-1/status', payload: '{"seq":1}', messageId: 7 }

describe('quieting mqtt-packet’s debug calls', () => {
  it('without it, mqtt-packet logs once debug is switched on at run time (what the next tests rely on)', () => {
    const r = run({})
    expect(r.status, r.stderr).toBe(0)
    expect(r.parsed).toEqual(PARSED)
    expect(r.logged).toBeGreaterThan(3)
  })

  it('imported after mqtt-packet was loaded, mqtt-packet parses and writes as before and calls no debug', () => {
    const r = run({ quietFrom: 'domain/quiet-mqtt-packet.ts' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.parsed).toEqual(PARSED)
    expect(r.logged).toBe(0)
    expect(r.outcomes?.length).toBeGreaterThan(0)
    expect(new Set(r.outcomes)).toEqual(new Set(['quieted']))
  })

  it('the broker brings it along, and a second evaluation leaves the quiet copy in place', () => {
    const r = run({ quietFrom: 'broker/broker.ts', twice: true })
    expect(r.status, r.stderr).toBe(0)
    expect(r.parsed).toEqual(PARSED)
    expect(r.logged).toBe(0)
    expect(new Set(r.outcomes)).toEqual(new Set(['was-quiet']))
  })

  it('DEBUG=mqtt-packet:* at start still logs', () => {
    const r = run({ quietFrom: 'domain/quiet-mqtt-packet.ts', env: { DEBUG: 'mqtt-packet:*' } })
    expect(r.status, r.stderr).toBe(0)
    expect(r.parsed).toEqual(PARSED)
    expect(r.logged).toBeGreaterThan(3)
  })
})
