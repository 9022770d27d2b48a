import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ELEVATOR_EVENT_CODES, SCALE_EVENT_CODES } from '../domain/protocol.ts'
import { ALERT_RULES, ELEVATOR_INFO_CODES, isAlertType, SCALE_ALERT_CODES } from './rules.ts'
import { ALERT_TYPES } from './types.ts'

/** Rows of the rule tables in docs/alerts.md: type -> cells. */
function documentedRules(): Map<string, string[]> {
  const text = readFileSync(new URL('../docs/alerts.md', import.meta.url), 'utf8')
  const rows = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const match = /^\| `([a-z_]+)`\s*\|/.exec(line)
    if (!match?.[1] || !isAlertType(match[1])) continue
    rows.set(
      match[1],
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    )
  }
  return rows
}

describe('rule table', () => {
  it('has a rule for every alert type and an alert type for every alerting event code', () => {
    expect(Object.keys(ALERT_RULES).sort()).toEqual([...ALERT_TYPES].sort())
    for (const code of ELEVATOR_EVENT_CODES) {
      expect(ELEVATOR_INFO_CODES.has(code) || isAlertType(code), code).toBe(true)
    }
    for (const code of SCALE_EVENT_CODES)
      expect(!SCALE_ALERT_CODES.has(code) || isAlertType(code), code).toBe(true)
  })

  it('agrees with docs/alerts.md: every type documented with its severity and titles', () => {
    const rows = documentedRules()
    for (const type of ALERT_TYPES) {
      const cells = rows.get(type)
      expect(cells, `${type} is missing from docs/alerts.md`).toBeDefined()
      const [, zh = '', en = '', , , severity = ''] = cells ?? []
      const rule = ALERT_RULES[type]
      expect(zh, type).toContain(rule.title.zh)
      expect(en, type).toContain(rule.title.en)
      // overspeed is graded: its table cell names both grades, the default first.
      expect(severity.split(' / ')[0], type).toBe(rule.severity)
    }
  })

  it('keeps critical for danger to people right now', () => {
    const critical = ALERT_TYPES.filter((t) => ALERT_RULES[t].severity === 'critical').sort()
    expect(critical).toEqual(
      [
        'bottom_overtravel',
        'moving_with_door_open',
        'safety_circuit_open',
        'top_overtravel',
        'trapped',
      ].sort(),
    )
  })
})
