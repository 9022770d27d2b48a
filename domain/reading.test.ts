import { describe, expect, it } from 'vitest'
import { NORMAL_ELEVATOR_STATUS } from '../test/support/payloads.ts'
import { decodeMessage } from './reading.ts'
import { parseTopic, uplinkFilters, uplinkTopic } from './topics.ts'

const status = { ts: 1_790_000_000_000, seq: 7, ...NORMAL_ELEVATOR_STATUS }
const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

describe('topics', () => {
  it('round-trips every uplink topic', () => {
    expect(parseTopic(uplinkTopic('scale_weighing', 'sc-1'))).toEqual({
      direction: 'uplink',
      type: 'scale_weighing',
      kind: 'scale',
      deviceId: 'sc-1',
    })
    expect(parseTopic('v1/elevators/el-1/commands')).toEqual({
      direction: 'downlink',
      kind: 'elevator',
      deviceId: 'el-1',
    })
    expect(parseTopic('v1/elevators/el-1/weighings')).toBeNull()
    expect(parseTopic('v1/elevators/+/status')).toBeNull()
    expect(parseTopic('v1/elevators/el-1/status/extra')).toBeNull()
    expect(uplinkFilters()).toContain('v1/scales/+/weighings')
  })
})

describe('decodeMessage', () => {
  it('accepts a valid elevator status and types it', () => {
    const result = decodeMessage('v1/elevators/el-1/status', bytes(status), 5, 'el-1')
    expect(result.ok).toBe(true)
    if (result.ok && result.reading.type === 'elevator_status') {
      expect(result.reading.data.floor).toBe(3)
      expect(result.reading.receivedAt).toBe(5)
    }
  })

  it.each([
    ['v1/elevators/el-1/status', bytes({ ...status, door: 'ajar' }), 'schema', /door/],
    ['v1/elevators/el-1/status', bytes('{"ts":'), 'invalid_json', /JSON/],
    ['v1/elevators/el-1/status', Buffer.from([0xff, 0xfe, 0x00]), 'not_utf8', /UTF-8/],
    ['v1/elevators/el-1/status', Buffer.alloc(5000, 0x20), 'payload_too_large', /5000/],
    ['v1/lifts/el-1/status', bytes(status), 'unknown_topic', /uplink/],
    ['v1/elevators/el-2/status', bytes(status), 'device_mismatch', /el-2/],
    ['v1/elevators/el-1/status', bytes({ ...status, ts: 12 }), 'schema', /ts/],
  ])('refuses %s with %s', (topic, payload, reason, message) => {
    const result = decodeMessage(topic, payload, 0, 'el-1')
    expect(result.ok).toBe(false)
    if (!result.ok) {
      expect(result.rejection.reason).toBe(reason)
      expect(result.rejection.message).toMatch(message)
    }
  })
})
