import { describe, expect, it } from 'vitest'
import { MAX_PAYLOAD_BYTES } from '../domain/protocol.ts'
import { commandTopic, uplinkFilters, uplinkTopic } from '../domain/topics.ts'
import { createFrameGuard } from './frame-guard.ts'
import {
  CONNACK,
  CONNECT_REFUSALS,
  checkConnectShape,
  connackCodeFor,
  decidePublish,
  decideSubscribe,
  type Identity,
  mayForward,
} from './policy.ts'

const elevator: Identity = { kind: 'device', deviceId: 'el-1', deviceKind: 'elevator' }
const scale: Identity = { kind: 'device', deviceId: 'sc-1', deviceKind: 'scale' }
const ingest: Identity = { kind: 'service', username: 'ingest' }

describe('checkConnectShape', () => {
  it('accepts client id = username with a password', () => {
    expect(checkConnectShape({ clientId: 'el-1', username: 'el-1', hasPassword: true })).toBeNull()
  })

  it('refuses an empty client id, missing credentials and a client id that is not the username', () => {
    expect(checkConnectShape({ clientId: '', username: 'el-1', hasPassword: true })).toBe('empty_client_id')
    expect(checkConnectShape({ clientId: 'el-1', username: undefined, hasPassword: true })).toBe(
      'missing_credentials',
    )
    expect(checkConnectShape({ clientId: 'el-1', username: '', hasPassword: true })).toBe(
      'missing_credentials',
    )
    expect(checkConnectShape({ clientId: 'el-1', username: 'el-1', hasPassword: false })).toBe(
      'missing_credentials',
    )
    expect(checkConnectShape({ clientId: 'el-2', username: 'el-1', hasPassword: true })).toBe(
      'client_id_mismatch',
    )
  })

  it('answers each refusal with an MQTT 3.1.1 CONNACK code', () => {
    const codes = new Set(CONNECT_REFUSALS.map(connackCodeFor))
    expect([...codes].every((code) => code >= 1 && code <= 5)).toBe(true)
    expect(connackCodeFor('bad_secret')).toBe(CONNACK.badUsernameOrPassword)
    // an unknown id is answered like a wrong secret: the answer does not say which ids exist
    expect(connackCodeFor('unknown')).toBe(connackCodeFor('bad_secret'))
    expect(connackCodeFor('revoked')).toBe(CONNACK.notAuthorized)
    expect(connackCodeFor('empty_client_id')).toBe(CONNACK.identifierRejected)
    expect(connackCodeFor('registry_error')).toBe(CONNACK.serverUnavailable)
  })
})

describe('decidePublish', () => {
  it('lets a device publish on its own uplink topics of its kind, naming the uplink type', () => {
    expect(decidePublish(elevator, uplinkTopic('elevator_status', 'el-1'), 100)).toEqual({
      ok: true,
      uplink: 'elevator_status',
    })
    expect(decidePublish(elevator, uplinkTopic('elevator_event', 'el-1'), 100)).toEqual({
      ok: true,
      uplink: 'elevator_event',
    })
    expect(decidePublish(scale, uplinkTopic('scale_weighing', 'sc-1'), 100)).toEqual({
      ok: true,
      uplink: 'scale_weighing',
    })
  })

  it("refuses another device's topic, a channel of another kind, commands and anything else", () => {
    expect(decidePublish(elevator, uplinkTopic('elevator_status', 'el-2'), 10)).toEqual({
      ok: false,
      reason: 'other_device',
    })
    // an elevator may not publish weighings, under either kind's segment
    expect(decidePublish(elevator, 'v1/elevators/el-1/weighings', 10)).toEqual({
      ok: false,
      reason: 'wrong_kind',
    })
    expect(decidePublish(elevator, uplinkTopic('scale_weighing', 'el-1'), 10)).toEqual({
      ok: false,
      reason: 'wrong_kind',
    })
    expect(decidePublish(elevator, commandTopic('elevator', 'el-1'), 10)).toEqual({
      ok: false,
      reason: 'not_uplink',
    })
    for (const topic of ['alerts/x', 'v1/elevators/el-1/status/extra', 'el-1', 'v2/elevators/el-1/status']) {
      expect(decidePublish(elevator, topic, 10)).toEqual({ ok: false, reason: 'not_uplink' })
    }
  })

  it('refuses $SYS and oversize payloads for everyone', () => {
    for (const who of [elevator, ingest]) {
      expect(decidePublish(who, '$SYS/broker/x', 1)).toEqual({ ok: false, reason: 'sys_topic' })
    }
    const own = uplinkTopic('elevator_status', 'el-1')
    expect(decidePublish(elevator, own, MAX_PAYLOAD_BYTES)).toMatchObject({ ok: true })
    expect(decidePublish(elevator, own, MAX_PAYLOAD_BYTES + 1)).toEqual({
      ok: false,
      reason: 'payload_too_large',
    })
    expect(decidePublish(ingest, 'alerts/el-1', MAX_PAYLOAD_BYTES + 1)).toEqual({
      ok: false,
      reason: 'payload_too_large',
    })
  })

  it('lets a service account publish alerts and commands, never a device uplink', () => {
    expect(decidePublish(ingest, 'alerts/el-1/trapped', 10)).toEqual({ ok: true, uplink: null })
    expect(decidePublish(ingest, commandTopic('scale', 'sc-1'), 10)).toEqual({ ok: true, uplink: null })
    expect(decidePublish(ingest, uplinkTopic('elevator_status', 'el-1'), 10)).toEqual({
      ok: false,
      reason: 'device_topic',
    })
    for (const topic of ['alerts', 'alerts/', 'other/topic', 'v1/elevators/el-1/nope']) {
      expect(decidePublish(ingest, topic, 10)).toEqual({ ok: false, reason: 'not_allowed' })
    }
  })
})

describe('decideSubscribe', () => {
  it('lets a device subscribe to its own commands topic only', () => {
    expect(decideSubscribe(elevator, commandTopic('elevator', 'el-1'))).toEqual({ ok: true })
    for (const filter of [
      commandTopic('elevator', 'el-2'),
      commandTopic('scale', 'el-1'),
      'v1/elevators/el-1/+',
      'v1/elevators/+/commands',
      'alerts/#',
      '#',
      '+/elevators/el-1/commands',
      uplinkTopic('elevator_status', 'el-1'),
    ]) {
      expect(decideSubscribe(elevator, filter)).toEqual({ ok: false, reason: 'not_own_commands' })
    }
    expect(decideSubscribe(elevator, '$SYS/#')).toEqual({ ok: false, reason: 'sys_topic' })
  })

  it('lets a service account subscribe under v1/ and alerts/ only', () => {
    for (const filter of ['v1/#', 'alerts/#', 'v1/+/+/commands', ...uplinkFilters()]) {
      expect(decideSubscribe(ingest, filter)).toEqual({ ok: true })
    }
    for (const filter of ['#', '+/#', 'v1', 'other/#', '+/elevators/+/status']) {
      expect(decideSubscribe(ingest, filter)).toEqual({ ok: false, reason: 'not_allowed' })
    }
    expect(decideSubscribe(ingest, '$SYS/#')).toEqual({ ok: false, reason: 'sys_topic' })
  })
})

describe('mayForward', () => {
  it('delivers to a device only its own commands', () => {
    expect(mayForward(elevator, commandTopic('elevator', 'el-1'))).toBe(true)
    expect(mayForward(elevator, commandTopic('elevator', 'el-2'))).toBe(false)
    expect(mayForward(elevator, 'alerts/x')).toBe(false)
    expect(mayForward(elevator, uplinkTopic('elevator_status', 'el-1'))).toBe(false)
    expect(mayForward(ingest, uplinkTopic('elevator_status', 'el-1'))).toBe(true)
    expect(mayForward(ingest, '$SYS/x/new/clients')).toBe(false)
  })
})

describe('createFrameGuard', () => {
  // PUBLISH QoS 0 fixed header: 0x30, then the remaining length as a variable byte integer.
  const header = (length: number): Buffer => {
    const bytes = [0x30]
    let rest = length
    do {
      let byte = rest % 128
      rest = Math.floor(rest / 128)
      if (rest > 0) byte |= 0x80
      bytes.push(byte)
    } while (rest > 0)
    return Buffer.from(bytes)
  }
  const packet = (length: number): Buffer => Buffer.concat([header(length), Buffer.alloc(length, 1)])

  it('follows packets of any chunking and stops at the first one over the limit', () => {
    const guard = createFrameGuard(1000)
    const stream = Buffer.concat([packet(0), packet(127), packet(128), packet(1000), packet(5)])
    for (let i = 0; i < stream.length; i += 7) expect(guard(stream.subarray(i, i + 7))).toBe(true)
    expect(guard(header(1001))).toBe(false)
    expect(guard(packet(1))).toBe(false)
  })

  it('refuses a huge declared length on its fixed header alone, and a 5-byte length field', () => {
    expect(createFrameGuard(16_384)(header(200 * 1024 * 1024))).toBe(false)
    expect(createFrameGuard(Number.MAX_SAFE_INTEGER)(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(
      false,
    )
  })
})
