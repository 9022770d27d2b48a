/**
 * The bodies webhooks carry: a generic JSON document for programs, and the group-robot markdown
 * messages of WeCom (企业微信) and DingTalk (钉钉) that duty rooms read on their phones.
 */
import { createHmac } from 'node:crypto'
import type { AlertChange, AlertSeverity } from '../../domain/alert-change.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import { ALERT_RULES, isAlertType } from '../rules.ts'

export const WEBHOOK_FORMATS = ['generic', 'wecom', 'dingtalk'] as const
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number]

/** Facts of the alert (not of the change) a message shows; stored with the queued delivery. */
export type MessageExtra = {
  /** The alert's Chinese title from the engine (平层关人, 非平层关人, …); the type's title when null. */
  title: string | null
  /** Trapped passengers: when the rescuer must be on site (TSG T5002: 30 min in Wuhan). */
  arriveDeadline: number | null
}

/** What a message is built from: the change, the alert's facts, and the registry facts about its device. */
export type AlertMessage = {
  change: AlertChange
  extra: MessageExtra
  context: DeviceContext | null
  /** Console page of the alert. */
  link: string
}

export const SEVERITY_ZH: Record<AlertSeverity, string> = {
  info: '提示',
  warning: '警告',
  major: '严重',
  critical: '紧急',
}

const TRANSITION_ZH: Record<string, string> = {
  raised: '新告警',
  repeated: '重复发生',
  acknowledged: '已确认',
  dispatched: '已派单',
  accepted: '已接单',
  arrived: '已到场',
  released: '已解困',
  escalated: '已升级',
  resolved: '已关闭',
  commented: '新备注',
}

export function typeLabelZh(type: string): string {
  return isAlertType(type) ? ALERT_RULES[type].title.zh : type
}

export function transitionLabelZh(transition: string): string {
  return TRANSITION_ZH[transition] ?? transition
}

const shanghaiFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})

/** `2025-03-01 14:05:09` in Asia/Shanghai: the duty room's wall clock. */
export function shanghaiTime(ms: number): string {
  return shanghaiFormat.format(new Date(ms)).replaceAll('/', '-')
}

/** Markdown control characters in registry text (names, addresses) must not break the message. */
function plain(text: string): string {
  return text.replace(/[\\`*_[\]<>#|]/g, (c) => `\\${c}`).replace(/\s+/g, ' ')
}

function deviceLine(message: AlertMessage): string {
  const { change, context } = message
  const device = context?.device
  if (!device) return plain(change.deviceId)
  const name = device.name ? `${plain(device.name)} ` : ''
  const code = device.kind === 'elevator' ? device.registrationCode : device.certificateNo
  const kind = device.kind === 'elevator' ? '电梯' : '计价秤'
  return `${name}(${kind} ${plain(device.id)},${device.kind === 'elevator' ? '设备代码' : '证书'} ${plain(code)})`
}

/** The lines both robots show, in the order a duty officer reads them. */
function lines(message: AlertMessage): { title: string; rows: string[] } {
  const { change, context } = message
  const severity = SEVERITY_ZH[change.severity]
  const title = `【${severity}】${message.extra.title ?? typeLabelZh(change.type)} · ${transitionLabelZh(change.transition)}`
  const rows = [
    `**级别**:${severity}`,
    `**设备**:${deviceLine(message)}`,
    `**场所**:${context ? plain(context.site.name) : '未登记'}`,
    `**地址**:${context ? plain(context.site.address) : '未登记'}`,
    `**${context?.device.kind === 'scale' ? '使用单位' : '维保单位'}**:${context ? plain(context.tenant.name) : '未登记'}`,
    `**时间**:${shanghaiTime(change.at)}`,
    `**状态**:${transitionLabelZh(change.transition)}(${plain(change.actor)})`,
  ]
  if (change.count > 1) rows.push(`**次数**:${change.count}`)
  const { arriveDeadline } = message.extra
  if (arriveDeadline !== null && change.status !== 'resolved') {
    rows.push(`**到场时限**:${shanghaiTime(arriveDeadline)}`)
  }
  return { title, rows }
}

// WeCom markdown: content at most 4096 bytes (UTF-8); DingTalk accepts more, but a phone screen does not.
const WECOM_MAX_BYTES = 4096

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text
  let out = text
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1)
  return `${out}…`
}

/** WeCom group robot: `{"msgtype":"markdown","markdown":{"content":…}}`; colours are WeCom's three. */
export function wecomBody(message: AlertMessage): { msgtype: 'markdown'; markdown: { content: string } } {
  const { title, rows } = lines(message)
  const colour =
    message.change.severity === 'critical' || message.change.severity === 'major' ? 'warning' : 'comment'
  const content = [
    `### <font color="${colour}">${title}</font>`,
    ...rows.map((row) => `> ${row}`),
    `[查看告警](${message.link})`,
  ].join('\n')
  return { msgtype: 'markdown', markdown: { content: truncateUtf8(content, WECOM_MAX_BYTES) } }
}

/** DingTalk custom robot: `{"msgtype":"markdown","markdown":{"title":…,"text":…}}`; title is the notification preview. */
export function dingtalkBody(message: AlertMessage): {
  msgtype: 'markdown'
  markdown: { title: string; text: string }
} {
  const { title, rows } = lines(message)
  // DingTalk markdown needs a blank line (or two trailing spaces) to break a line.
  const text = [`### ${title}`, ...rows, `[查看告警](${message.link})`].join('\n\n')
  return { msgtype: 'markdown', markdown: { title, text } }
}

/** The generic JSON body: the change as published on MQTT, with the registry facts and the link. */
export function genericBody(message: AlertMessage, deliveryId: string) {
  const { change, context } = message
  return {
    event: `alert.${change.transition}`,
    deliveryId,
    change,
    device: context
      ? {
          id: context.device.id,
          kind: context.device.kind,
          name: context.device.name,
          code:
            context.device.kind === 'elevator'
              ? context.device.registrationCode
              : context.device.certificateNo,
        }
      : null,
    site: context
      ? {
          id: context.site.id,
          name: context.site.name,
          category: context.site.category,
          address: context.site.address,
        }
      : null,
    tenant: context ? { id: context.tenant.id, name: context.tenant.name, kind: context.tenant.kind } : null,
    title: message.extra.title ?? typeLabelZh(change.type),
    arriveDeadline: message.extra.arriveDeadline,
    link: message.link,
  }
}

/** Header names of the generic format's signature (HMAC-SHA256 over `${timestamp}.${body}`). */
export const SIGNATURE_HEADER = 'x-liftscale-signature'
export const TIMESTAMP_HEADER = 'x-liftscale-timestamp'
export const DELIVERY_HEADER = 'x-liftscale-delivery'

/**
 * `sha256=<hex>` over `${timestamp}.${body}`: the timestamp inside the MAC lets a receiver refuse
 * replays of an old, validly signed body.
 */
export function genericSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/**
 * DingTalk's signed robot: `sign` = base64(HMAC-SHA256(key = secret, data = `${timestamp}\n${secret}`)),
 * passed with `timestamp` (ms, within an hour of DingTalk's clock) in the query string.
 */
export function dingtalkSignedUrl(url: string, secret: string, timestamp: number): string {
  const sign = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64')
  const signed = new URL(url)
  signed.searchParams.set('timestamp', String(timestamp))
  signed.searchParams.set('sign', sign)
  return signed.toString()
}

export type PreparedRequest = { url: string; headers: Record<string, string>; body: string }

/** The HTTP request of one attempt; signatures are made per attempt, with that attempt's clock. */
export function prepareRequest(
  target: { url: string; format: WebhookFormat; secret: string | null },
  message: AlertMessage,
  deliveryId: string,
  now: number,
): PreparedRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': 'liftscale-webhooks/1',
    [DELIVERY_HEADER]: deliveryId,
  }
  switch (target.format) {
    case 'wecom':
      return { url: target.url, headers, body: JSON.stringify(wecomBody(message)) }
    case 'dingtalk': {
      const url = target.secret ? dingtalkSignedUrl(target.url, target.secret, now) : target.url
      return { url, headers, body: JSON.stringify(dingtalkBody(message)) }
    }
    case 'generic': {
      const body = JSON.stringify(genericBody(message, deliveryId))
      if (target.secret) {
        headers[TIMESTAMP_HEADER] = String(now)
        headers[SIGNATURE_HEADER] = genericSignature(target.secret, now, body)
      }
      return { url: target.url, headers, body }
    }
  }
}

/**
 * Did the receiver take it? Any 2xx for generic receivers; the robots answer 200 with
 * `{"errcode":0}` on success and a non-zero errcode (bad key, bad sign, rate limit) otherwise.
 */
export function acceptedBy(format: WebhookFormat, status: number, responseText: string): string | null {
  if (status < 200 || status >= 300) return `HTTP ${status}`
  if (format === 'generic') return null
  try {
    const parsed: unknown = JSON.parse(responseText)
    if (typeof parsed === 'object' && parsed !== null && 'errcode' in parsed) {
      const { errcode } = parsed
      if (errcode === 0) return null
      const errmsg = 'errmsg' in parsed ? String(parsed.errmsg) : ''
      return `errcode ${String(errcode)}: ${errmsg}`.slice(0, 500)
    }
  } catch {
    // fall through
  }
  return `unexpected robot response: ${responseText.slice(0, 200)}`
}
