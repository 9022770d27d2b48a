/**
 * docs/protocol.md is written for device makers; this keeps it honest against the code it
 * describes: every example passes the schema of its topic, every code and reason is documented.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ELEVATOR_EVENT_CATALOGUE, MODE_CATALOGUE, SCALE_EVENT_CATALOGUE } from '../domain/catalogue.ts'
import { CommandSchema, MAX_PAYLOAD_BYTES } from '../domain/protocol.ts'
import { decodeMessage, REJECT_REASONS } from '../domain/reading.ts'
import { UPLINK, UPLINK_TYPES, type UplinkType, uplinkTopic } from '../domain/topics.ts'

// Table cells are padded by the formatter: compare with runs of spaces collapsed.
const doc = readFileSync(new URL('./protocol.md', import.meta.url), 'utf8').replace(/ {2,}/g, ' ')
/** Section 7, the event code tables. */
const codeTables = doc.slice(doc.indexOf('## 7. Event codes'), doc.indexOf('## 8. '))

function examples(): { type: string; json: string }[] {
  const found: { type: string; json: string }[] = []
  const pattern = /<!-- example: (\w+) -->\s*```json\n([\s\S]*?)```/g
  for (let match = pattern.exec(doc); match !== null; match = pattern.exec(doc)) {
    found.push({ type: match[1] ?? '', json: match[2] ?? '' })
  }
  return found
}

const isUplinkType = (type: string): type is UplinkType => (UPLINK_TYPES as string[]).includes(type)

describe('docs/protocol.md', () => {
  it('has an example of every message, each valid for its topic', () => {
    const all = examples()
    expect(new Set(all.map((e) => e.type))).toEqual(new Set([...UPLINK_TYPES, 'command']))
    for (const { type, json } of all) {
      if (type === 'command') {
        expect(CommandSchema.safeParse(JSON.parse(json)).success).toBe(true)
        continue
      }
      expect(isUplinkType(type), type).toBe(true)
      if (!isUplinkType(type)) continue
      const id = UPLINK[type].kind === 'elevator' ? 'el-1' : 'sc-1'
      const result = decodeMessage(uplinkTopic(type, id), Buffer.from(json), Date.now(), id)
      expect(result.ok ? 'ok' : result.rejection.message, `${type} example`).toBe('ok')
    }
  })

  it('lists every topic, event code with its catalogue number and Chinese name, and reject reason', () => {
    for (const type of UPLINK_TYPES) {
      const topic = uplinkTopic(type, '{id}')
      expect(doc).toContain(`\`${topic}\``)
    }
    const rows = (catalogue: Record<string, { catalogueNo: number | null; zh: string }>) =>
      Object.entries(catalogue).map(([code, entry]) => ({ code, entry }))
    for (const { code, entry } of [...rows(ELEVATOR_EVENT_CATALOGUE), ...rows(SCALE_EVENT_CATALOGUE)]) {
      const row = codeTables.split('\n').find((line) => line.startsWith(`| \`${code}\` |`))
      expect(row, code).toBeDefined()
      const number = code === 'mode_change' ? '40-47' : String(entry.catalogueNo ?? '–')
      expect(row, code).toContain(`| ${number}`)
      expect(row, code).toContain(entry.zh)
    }
    for (const { code, entry } of rows(MODE_CATALOGUE)) {
      const row = codeTables
        .split('\n')
        .find((line) => line.startsWith(`| \`${code}\` | ${entry.catalogueNo ?? '–'} |`))
      expect(row, `mode ${code}`).toContain(entry.zh)
    }
    for (const reason of REJECT_REASONS) expect(doc).toContain(`| \`${reason}\` |`)
    expect(doc).toContain(`${MAX_PAYLOAD_BYTES} bytes`)
  })
})
