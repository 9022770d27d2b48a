/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The root tsconfig (Node libraries) also checks console/: the page code and page.evaluate callbacks need the DOM.
/**
 * Test support for the console's browser tests: the real platform parts in this process (registry
 * and alerts engine on SQLite files in a temp dir, notifier, the HTTP API serving the built console
 * on 127.0.0.1:0, an Aedes broker feeding the engine) and Debian's Chromium driven by playwright-core.
 * Only tests import this.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import mqtt, { type MqttClient } from 'mqtt'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { seedTenantsAndSites, startAlertsStack, type Tokens } from '../alerts/api/testing.ts'
import type { Notifier } from '../alerts/notify/notifier.ts'
import type { AlertEngine } from '../alerts/types.ts'
import type { Broker } from '../broker/broker.ts'
import { shanghaiDate } from '../domain/dates.ts'
import type { ElevatorStatus } from '../domain/protocol.ts'
import { uplinkTopic } from '../domain/topics.ts'
import type { Certification } from '../registry/certification.ts'
import { type Registry, registryFile } from '../registry/registry.ts'
import { decodedReadings, startTestBroker } from '../test/support/broker.ts'
import { NORMAL_ELEVATOR_STATUS } from '../test/support/payloads.ts'
import { buildConsole } from './build.ts'

export type { Tokens }

export type ConsolePlatform = {
  dir: string
  baseUrl: string
  mqttUrl: string
  registry: Registry
  certification: Certification
  engine: AlertEngine
  notifier: Notifier
  app: FastifyInstance
  broker: Broker
  tokens: Tokens
  /** GET an /api path as a role, as JSON. */
  apiGet<T>(role: keyof Tokens, path: string): Promise<T>
  /** A real mqtt.js device connected with its own credentials. */
  connectDevice(id: string): Promise<SimDevice>
  stop(): Promise<void>
}

export type SimDevice = {
  client: MqttClient
  status(over?: Partial<ElevatorStatus>): Promise<void>
  event(code: string, detail?: Record<string, unknown>): Promise<void>
}

/** Stopped, door closed, occupied: a passenger trapped at a floor (DOMAIN.md "Derived detection"). */
export const TRAPPED_STATUS: Partial<ElevatorStatus> = {
  occupied: true,
  door: 'closed',
  direction: 'stopped',
  speed: 0,
  levelled: true,
  doorZone: true,
  alarmButton: true,
}

export const ELEVATORS = ['el-a1', 'el-a2', 'el-a3', 'el-a4', 'el-b1', 'el-b2'] as const

function seed(registry: Registry, certification: Certification, today: string): void {
  seedTenantsAndSites(registry)
  registry.createSite({
    id: 'site-3',
    name: '武商广场',
    category: 'mall',
    address: '武汉市硚口区解放大道3号',
  })
  const elevators: Array<[string, string, string, string]> = [
    ['el-a1', 'site-1', 'firm-a', '1号客梯'],
    ['el-a2', 'site-3', 'firm-a', '2号客梯'],
    ['el-a3', 'site-3', 'firm-a', '3号客梯'],
    ['el-a4', 'site-1', 'firm-a', '4号货梯'],
    ['el-b1', 'site-2', 'firm-b', '教学楼电梯'],
    ['el-b2', 'site-2', 'firm-b', '食堂电梯'],
  ]
  elevators.forEach(([id, siteId, tenantId, name], i) => {
    registry.createElevator({
      id,
      siteId,
      tenantId,
      name,
      registrationCode: String(31104201002021000001n + BigInt(i)),
      ratedSpeedMps: 1.75,
      floors: 18,
      // el-b1 is long overdue; el-a2 and el-a3 fall due today (the compliance page has a rate to show).
      nextInspectionDue: i === 4 ? '2000-01-01' : i === 1 || i === 2 ? today : '2099-01-01',
    })
  })
  certification.declareInspection('el-a2', { declaredOn: today, actor: 'seed' })
  // Scales due today: three of four market scales and the mall's one pass their verification.
  for (let i = 1; i <= 4; i += 1) {
    registry.createScale({
      id: `sc-m${i}`,
      siteId: 'site-1',
      tenantId: 'market-op',
      name: `${i}号摊位电子秤`,
      certificateNo: `WH-2025-000${i}`,
      maxKg: 30,
      eG: 5,
      nextVerificationDue: today,
    })
    if (i <= 3)
      certification.recordVerification(`sc-m${i}`, { verifiedOn: today, passed: true, verifier: '市计量所' })
  }
  registry.createScale({
    id: 'sc-mall1',
    siteId: 'site-3',
    tenantId: 'market-op',
    certificateNo: 'WH-2025-0100',
    maxKg: 15,
    eG: 2,
    nextVerificationDue: today,
  })
  certification.recordVerification('sc-mall1', { verifiedOn: today, passed: true, verifier: '市计量所' })
}

export async function startConsolePlatform(
  options: { env?: Record<string, string> } = {},
): Promise<ConsolePlatform> {
  const dir = mkdtempSync(join(tmpdir(), 'console-test-'))
  const dataDir = join(dir, 'data')
  mkdirSync(dataDir, { recursive: true })
  const consoleDir = join(dir, 'console')
  await buildConsole({ outDir: consoleDir })

  const env = {
    DATA_DIR: dataDir,
    SCAN_ON_START: 'false',
    PUBLIC_URL: 'http://127.0.0.1',
    // The issue's walk-through dispatches by hand (acknowledge -> dispatch -> accept -> ...).
    RESCUE_AUTO_DISPATCH: 'false',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    ...options.env,
  }
  const secrets = new Map<string, string>()
  const stack = await startAlertsStack({
    registryFile: registryFile(dir),
    env,
    async seed(registry, certification) {
      seed(registry, certification, shanghaiDate(Date.now()))
      for (const id of ELEVATORS) secrets.set(id, await registry.issueDeviceSecret(id))
    },
    tokenNames: { tenantA: '安达调度', tenantB: '恒通调度', viewer: '大屏' },
    deps: { consoleDir },
  })
  const { registry, certification, engine, notifier, app, tokens } = stack
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('API did not listen on TCP')
  const baseUrl = `http://127.0.0.1:${address.port}`

  const broker = await startTestBroker(
    registry,
    decodedReadings((reading) => engine.handle(reading)),
  )
  const mqttUrl = `mqtt://127.0.0.1:${broker.port()}`
  const clients = new Set<MqttClient>()

  async function connectDevice(id: string): Promise<SimDevice> {
    const client = await new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(mqttUrl, {
        clientId: id,
        username: id,
        password: secrets.get(id),
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      })
      c.once('connect', () => resolve(c))
      c.once('error', reject)
    })
    clients.add(client)
    let seq = 1
    const publish = async (type: 'elevator_status' | 'elevator_event', body: Record<string, unknown>) => {
      const payload = JSON.stringify({ ts: Date.now(), seq: seq++, ...body })
      await client.publishAsync(uplinkTopic(type, id), payload, { qos: 1 })
    }
    return {
      client,
      status: (over = {}) => publish('elevator_status', { ...NORMAL_ELEVATOR_STATUS, ...over }),
      event: (code, detail) => publish('elevator_event', { code, ...(detail ? { detail } : {}) }),
    }
  }

  let stopped = false
  return {
    dir,
    baseUrl,
    mqttUrl,
    registry,
    certification,
    engine,
    notifier,
    app,
    broker,
    tokens,
    async apiGet<T>(role: keyof Tokens, path: string): Promise<T> {
      const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${tokens[role]}` } })
      if (!res.ok) throw new Error(`GET ${path} as ${role}: ${res.status} ${await res.text()}`)
      return (await res.json()) as T
    },
    connectDevice,
    async stop() {
      if (stopped) return
      stopped = true
      await Promise.all([...clients].map((c) => c.endAsync(true).catch(() => undefined)))
      await broker.stop()
      await stack.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Debian's Chromium (never a browser download), headless, no network of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  })
}

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/** A fresh browser context (own sessionStorage) signed in with `token`, on the board. */
export async function signedInPage(
  browser: Browser,
  baseUrl: string,
  token: string,
  options: { viewport?: { width: number; height: number }; lang?: 'zh-CN' | 'en' } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: options.viewport ?? DESKTOP,
    locale: 'zh-CN',
    timezoneId: 'Europe/London', // the page must show Asia/Shanghai whatever the browser's zone
  })
  const page = await context.newPage()
  if (options.lang === 'en') {
    await page.addInitScript(() => localStorage.setItem('liftscale.console.lang', 'en'))
  }
  await page.goto(`${baseUrl}/`)
  await page.fill('#token', token)
  await page.click('button[type=submit]')
  await page.waitForSelector('.topbar nav')
  return { context, page }
}

/** Visible text and labels that contain CJK characters, outside data (`translate="no"`) and other-language nodes. */
export function cjkLabels(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const cjk = /[\u3400-\u9fff\uf900-\ufaff]/
    const isExcluded = (el: Element | null): boolean => {
      if (!el) return false
      if (el.closest('[translate="no"]')) return true
      const langEl = el.closest('[lang]')
      return langEl !== null && langEl !== document.documentElement && langEl.getAttribute('lang') !== 'en'
    }
    const found: string[] = []
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent ?? ''
      const parent = node.parentElement
      if (!cjk.test(text) || !parent || isExcluded(parent)) continue
      if (parent.closest('script, style, noscript')) continue
      found.push(`text: ${text.trim()} (in <${parent.tagName.toLowerCase()} class="${parent.className}">)`)
    }
    for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
      if (isExcluded(el)) continue
      for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
        const value = el.getAttribute(name)
        if (value && cjk.test(value)) found.push(`${name}: ${value}`)
      }
    }
    if (cjk.test(document.title)) found.push(`title: ${document.title}`)
    return found
  })
}

/**
 * Text whose contrast against its background is below WCAG AA (4.5:1, or 3:1 for large text), for
 * every visible, enabled text node. The console paints solid colours only, so the background is the
 * nearest ancestor's non-transparent background colour.
 */
export function contrastProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgba = (text: string): [number, number, number, number] | null => {
      const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(text)
      if (!m) return null
      return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])]
    }
    const luminance = ([r, g, b]: [number, number, number, number]) => {
      const lin = (c: number) => {
        const s = c / 255
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
      }
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }
    /** Composites the semi-transparent backgrounds of the ancestors over the first opaque one. */
    const background = (el: Element | null): [number, number, number, number] => {
      const layers: Array<[number, number, number, number]> = []
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor)
        if (c && c[3] > 0) layers.push(c)
        if (c && c[3] >= 1) break
      }
      let out: [number, number, number, number] = [255, 255, 255, 1]
      for (const [r, g, b, a] of layers.reverse()) {
        out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a), 1]
      }
      return out
    }
    const problems: string[] = []
    const seen = new Set<Element>()
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement
      if (!el || seen.has(el) || !(node.textContent ?? '').trim()) continue
      seen.add(el)
      const style = getComputedStyle(el)
      const rect = el.getBoundingClientRect()
      if (style.visibility === 'hidden' || rect.width === 0 || rect.height === 0) continue
      if (el.closest('[disabled], .sr-only, option, dialog:not([open])')) continue
      const fg = rgba(style.color)
      if (!fg) continue
      const bg = background(el)
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a) as [number, number]
      const ratio = (hi + 0.05) / (lo + 0.05)
      const size = Number.parseFloat(style.fontSize)
      const isBold = Number(style.fontWeight) >= 700
      const isLarge = size >= 24 || (isBold && size >= 18.66)
      if (ratio < (isLarge ? 3 : 4.5)) {
        problems.push(
          `${ratio.toFixed(2)}: "${(node.textContent ?? '').trim().slice(0, 30)}" ${style.color} on rgb(${bg.slice(0, 3).join(',')})`,
        )
      }
    }
    return problems
  })
}
