/**
 * Who may do what on the broker: pure decisions from an identity and a topic or packet, so every
 * rule is unit-tested without a socket. broker.ts only wires these into aedes' hooks.
 */
import { MAX_PAYLOAD_BYTES } from '../domain/protocol.ts'
import {
  ALERTS_TOPIC_PREFIX,
  commandTopic,
  type DeviceKind,
  KIND_SEGMENT,
  PROTOCOL_PREFIX,
  parseTopic,
  UPLINK,
  type UplinkType,
} from '../domain/topics.ts'

/** An authenticated MQTT client: a device, or one of the platform's service accounts. */
export type Identity =
  | { kind: 'device'; deviceId: string; deviceKind: DeviceKind }
  | { kind: 'service'; username: string }

/** Why a CONNECT is refused; each is a label of `mqtt_connections_refused_total`. */
export const CONNECT_REFUSALS = [
  'missing_credentials',
  'empty_client_id',
  'client_id_mismatch',
  'unknown',
  'no_credentials',
  'bad_secret',
  'revoked',
  'out_of_service',
  'will_refused',
  'registry_error',
  // refused by aedes itself before authentication: MQTT 5 (aedes 1.x speaks 3.1 and 3.1.1), and
  // an MQTT 3.1 client id over the length limit
  'unsupported_protocol',
  'client_id_too_long',
] as const
export type ConnectRefusal = (typeof CONNECT_REFUSALS)[number]

/** Why a PUBLISH (or a Last Will) is refused; labels of `mqtt_publish_refused_total`. */
export const PUBLISH_REFUSALS = [
  'payload_too_large',
  'sys_topic',
  'not_uplink',
  'other_device',
  'wrong_kind',
  'device_topic',
  'not_allowed',
  'no_identity',
  'kicked',
  'broker_stopping',
] as const
export type PublishRefusal = (typeof PUBLISH_REFUSALS)[number]

/** Why a SUBSCRIBE filter is refused (granted 0x80); labels of `mqtt_subscribe_refused_total`. */
export const SUBSCRIBE_REFUSALS = ['sys_topic', 'not_own_commands', 'not_allowed'] as const
export type SubscribeRefusal = (typeof SUBSCRIBE_REFUSALS)[number]

/** CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
export const CONNACK = {
  unacceptableProtocol: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5,
} as const
export type ConnackCode = (typeof CONNACK)[keyof typeof CONNACK]

/**
 * The CONNACK code a refusal is answered with: identifier problems are 2, credentials that do not
 * check out are 4 (an unknown id gets the same answer as a wrong secret), a known identity that may
 * not connect is 5, and a registry that cannot answer is 3 (the client retries).
 */
export function connackCodeFor(reason: ConnectRefusal): ConnackCode {
  switch (reason) {
    case 'unsupported_protocol':
      return CONNACK.unacceptableProtocol
    case 'empty_client_id':
    case 'client_id_mismatch':
    case 'client_id_too_long':
      return CONNACK.identifierRejected
    case 'missing_credentials':
    case 'unknown':
    case 'no_credentials':
    case 'bad_secret':
      return CONNACK.badUsernameOrPassword
    case 'revoked':
    case 'out_of_service':
    case 'will_refused':
      return CONNACK.notAuthorized
    case 'registry_error':
      return CONNACK.serverUnavailable
  }
}

/**
 * Checks made before the registry is asked: the client id is the device id and the username.
 * A zero-length client id is refused even with a clean session ([MQTT-3.1.3-8] lets a server refuse
 * it): the broker would make one up, and then it would name nobody.
 */
export function checkConnectShape(input: {
  clientId: string
  username: string | undefined
  hasPassword: boolean
}): ConnectRefusal | null {
  if (input.clientId.length === 0) return 'empty_client_id'
  if (input.username === undefined || input.username.length === 0 || !input.hasPassword) {
    return 'missing_credentials'
  }
  if (input.clientId !== input.username) return 'client_id_mismatch'
  return null
}

export type PublishDecision = { ok: true; uplink: UplinkType | null } | { ok: false; reason: PublishRefusal }

const isSysTopic = (topic: string): boolean => topic.startsWith('$')

/** Uplink channels of any kind, to tell "wrong channel for its kind" from "not a protocol topic". */
const UPLINK_CHANNELS = new Set<string>(Object.values(UPLINK).map((entry) => entry.channel))
const KIND_SEGMENTS = new Set<string>(Object.values(KIND_SEGMENT))

/**
 * May `identity` publish `payloadBytes` bytes to `topic`? A device speaks only on its own uplink
 * topics valid for its kind; a service account only on `alerts/...` and devices' commands topics,
 * never on an uplink topic, so nobody can speak for a device. Applies to Last Wills too.
 */
export function decidePublish(identity: Identity, topic: string, payloadBytes: number): PublishDecision {
  if (payloadBytes > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'payload_too_large' }
  if (isSysTopic(topic)) return { ok: false, reason: 'sys_topic' }
  const parsed = parseTopic(topic)
  if (identity.kind === 'service') {
    if (parsed?.direction === 'uplink') return { ok: false, reason: 'device_topic' }
    if (parsed?.direction === 'downlink') return { ok: true, uplink: null }
    const [first, second] = topic.split('/')
    if (first === ALERTS_TOPIC_PREFIX && second !== undefined && second.length > 0) {
      return { ok: true, uplink: null }
    }
    return { ok: false, reason: 'not_allowed' }
  }
  if (parsed?.direction === 'uplink') {
    if (parsed.deviceId !== identity.deviceId) return { ok: false, reason: 'other_device' }
    if (parsed.kind !== identity.deviceKind) return { ok: false, reason: 'wrong_kind' }
    return { ok: true, uplink: parsed.type }
  }
  // Not a valid uplink topic: say whether it names another device or a channel of another kind,
  // so the log tells a misconfigured device from a probing one.
  const parts = topic.split('/')
  if (parts.length === 4 && parts[0] === PROTOCOL_PREFIX && KIND_SEGMENTS.has(parts[1] ?? '')) {
    if (parts[2] !== identity.deviceId) return { ok: false, reason: 'other_device' }
    if (UPLINK_CHANNELS.has(parts[3] ?? '')) return { ok: false, reason: 'wrong_kind' }
  }
  return { ok: false, reason: 'not_uplink' }
}

export type SubscribeDecision = { ok: true } | { ok: false; reason: SubscribeRefusal }

/**
 * May `identity` subscribe to `filter`? A device: its own commands topic, exactly (no wildcard,
 * which could reach other topics). A service account: filters under `v1/` or `alerts/`. Nobody:
 * `#`, `+/...`, `$SYS/...` or any other `$` topic.
 */
export function decideSubscribe(identity: Identity, filter: string): SubscribeDecision {
  if (isSysTopic(filter)) return { ok: false, reason: 'sys_topic' }
  if (identity.kind === 'device') {
    return filter === commandTopic(identity.deviceKind, identity.deviceId)
      ? { ok: true }
      : { ok: false, reason: 'not_own_commands' }
  }
  const [first] = filter.split('/')
  if ((first === PROTOCOL_PREFIX || first === ALERTS_TOPIC_PREFIX) && filter.length > first.length) {
    return { ok: true }
  }
  return { ok: false, reason: 'not_allowed' }
}

/**
 * Defence in depth behind decideSubscribe: may a message on `topic` be delivered to `identity`?
 * A device receives nothing but its own commands; a service account nothing under `$`.
 */
export function mayForward(identity: Identity, topic: string): boolean {
  if (identity.kind === 'device') return topic === commandTopic(identity.deviceKind, identity.deviceId)
  return !isSysTopic(topic)
}

/** The identity's MQTT name (client id and username), for logs and the per-client tables. */
export function identityName(identity: Identity): string {
  return identity.kind === 'device' ? identity.deviceId : identity.username
}
