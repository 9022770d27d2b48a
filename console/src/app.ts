/**
 * The console's shell: sign-in, header (navigation, live indicator, sound, language, user), the
 * current view by hash route, the live stream feeding every view, the alarm for critical alerts,
 * the note dialog, and the one-second ticker of countdowns.
 */
import type { Alert, AlertAction, NamedAlert } from '../../alerts/types.ts'
import type { Principal, Site, Tenant } from '../../domain/registry-types.ts'
import { ApiError, createApi } from './api.ts'
import { datum, h, swap } from './dom.ts'
import { createTranslator, isLang, LANGUAGE_NAMES, type Lang, ROLE_KEYS, type Translator } from './i18n.ts'
import { refreshLiveTimes } from './live-times.ts'
import { alertHash, compareAlerts, deviceLabel, hashForPath, parseRoute, type Route } from './logic.ts'
import { createAlarm } from './sound.ts'
import { type AlertStream, createAlertStream, type LiveAlertEvent, type StreamState } from './stream.ts'
import { ACTION_KEYS, type Ctx, type View } from './ui.ts'
import { createAlertView } from './views/alert.ts'
import { createBoardView } from './views/board.ts'
import { createComplianceView } from './views/compliance.ts'
import { createDevicesView, createDeviceView } from './views/devices.ts'

/**
 * The token lives in sessionStorage: it survives a reload of the tab but not closing it, is not
 * shared with other tabs, and is not left on the disk of a shared duty-room PC as localStorage would
 * be. (Script on the page could read either; the console loads no third-party script.)
 */
const TOKEN_KEY = 'liftscale.console.token'
/** A preference of the desk, kept across sessions. */
const LANG_KEY = 'liftscale.console.lang'
/** While an unacknowledged critical alert is open, the alarm rings again this often. */
const REPEAT_ALARM_MS = 30_000

type Session = { token: string; me: Principal; sites: Map<string, Site>; tenants: Map<string, Tenant> }

export function startConsole(root: HTMLElement): void {
  const redirect = hashForPath(location.pathname)
  if (redirect) history.replaceState(null, '', `/${redirect}`)

  let lang: Lang = isLang(localStorage.getItem(LANG_KEY)) ? (localStorage.getItem(LANG_KEY) as Lang) : 'zh-CN'
  let i18n: Translator = createTranslator(lang)
  const alarm = createAlarm(localStorage)
  let session: Session | null = null
  let stream: AlertStream | null = null
  let streamState: StreamState = 'connecting'
  let view: View | null = null
  let ctx: Ctx | null = null
  let loginMessage: string | null = null
  /** Unacknowledged critical alerts seen on the stream: the alarm repeats while any is open. */
  const ringing = new Map<string, Alert>()
  /** Trapped passengers not yet released, shown on every page (the board has its own banner). */
  const rescues = new Map<string, NamedAlert>()
  let repeatTimer: number | undefined

  // Shell elements, built once; their text is refreshed on language change.
  const main = h('main', { id: 'main', tabindex: -1 })
  const header = h('header', { class: 'topbar' })
  const footer = h('footer', { class: 'footer' })
  const toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' })
  const announcer = h('div', {
    class: 'sr-only',
    role: 'alert',
    'aria-live': 'assertive',
    'data-announcer': '',
  })
  const skip = h('a', { class: 'skip-link', href: '#main' })
  const dialog = h('dialog', { class: 'note-dialog' })
  const strip = h('div', { class: 'rescue-strip', hidden: true })
  root.replaceChildren(skip, header, strip, main, footer, toasts, announcer, dialog)
  skip.addEventListener('click', (event) => {
    event.preventDefault()
    main.focus()
  })

  // Browsers start audio only after a gesture: every click or key may be the first.
  const unlock = () => alarm.unlock()
  document.addEventListener('pointerdown', unlock)
  document.addEventListener('keydown', unlock)

  function applyLang(): void {
    document.documentElement.lang = lang
    skip.textContent = i18n.t('skipToMain')
    footer.replaceChildren(h('span', null, i18n.t('timezoneNote')))
    updateTitle()
  }

  function updateTitle(): void {
    const trapped = rescues.size
    document.title = trapped > 0 ? `(${trapped}) ⚠ ${i18n.t('appShort')}` : i18n.t('appName')
  }

  function renderStrip(): void {
    const route = parseRoute(location.hash)
    const others = [...rescues.values()].filter((a) => !(route.name === 'alert' && route.id === a.id))
    const first = others.sort(compareAlerts)[0]
    if (!session || route.name === 'board' || !first) {
      strip.hidden = true
      strip.replaceChildren()
      return
    }
    strip.hidden = false
    swap(
      strip,
      h(
        'a',
        { class: 'rescue-strip-link', href: alertHash(first.id), 'data-key': 'strip' },
        h('span', { 'aria-hidden': 'true' }, '⚠ '),
        h(
          'strong',
          null,
          others.length === 1 ? i18n.t('trappedBannerOne') : i18n.t('trappedBanner', { n: others.length }),
        ),
        ' · ',
        datum(deviceLabel(first)),
        ' · ',
        i18n.t('openDetails'),
      ),
    )
  }

  /** Refetches the alarms' state: after sign-in and whenever the stream (re)connects. */
  async function syncAlarms(): Promise<void> {
    if (!ctx) return
    const { api } = ctx
    try {
      const [trapped, critical] = await Promise.all([
        api.alerts({ status: 'active', type: 'trapped', limit: 100 }),
        api.alerts({ status: 'open', severity: 'critical', limit: 100 }),
      ])
      rescues.clear()
      for (const a of trapped.items) rescues.set(a.id, a)
      ringing.clear()
      for (const a of critical.items) ringing.set(a.id, a)
      updateTitle()
      renderStrip()
    } catch {
      // the view shows connection problems; the next sync retries
    }
  }

  function setLang(next: Lang): void {
    lang = next
    localStorage.setItem(LANG_KEY, next)
    i18n = createTranslator(next)
    if (ctx) ctx.i18n = i18n
    applyLang()
    renderHeader()
    renderStrip()
    renderView()
  }

  function toast(message: string, kind: 'error' | 'info' = 'info'): void {
    const item = h('div', { class: `toast toast-${kind}` }, message)
    toasts.appendChild(item)
    window.setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000)
  }

  function langButton(): HTMLElement {
    const other: Lang = lang === 'zh-CN' ? 'en' : 'zh-CN'
    return h(
      'button',
      {
        type: 'button',
        class: 'btn btn-quiet lang-switch',
        'data-key': 'lang',
        'data-lang-switch': other,
        onclick: () => setLang(other),
      },
      h('span', { class: 'sr-only' }, `${i18n.t('switchLanguage')}: `),
      // The language's name in itself, marked so (the English-labels test skips it by its lang).
      h('span', { lang: other }, LANGUAGE_NAMES[other]),
    )
  }

  function renderHeader(): void {
    const t = i18n.t
    if (!session) {
      swap(header, h('div', { class: 'brand' }, t('appName')), h('div', { class: 'tools' }, langButton()))
      return
    }
    const route = parseRoute(location.hash)
    const link = (href: string, label: string, active: boolean) =>
      h(
        'a',
        {
          href,
          class: active ? 'active' : '',
          ...(active ? { 'aria-current': 'page' } : {}),
          'data-key': `nav-${href}`,
        },
        label,
      )
    const { me } = session
    const stateKey =
      streamState === 'live' ? 'live' : streamState === 'reconnecting' ? 'reconnecting' : 'connecting'
    const muted = alarm.isMuted()
    swap(
      header,
      h(
        'a',
        { class: 'brand', href: '#/board' },
        h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▣'),
        h('span', null, t('appShort')),
      ),
      h(
        'nav',
        { class: 'nav', 'aria-label': t('navMain') },
        link('#/board', t('navBoard'), route.name === 'board' || route.name === 'alert'),
        link('#/devices', t('navDevices'), route.name === 'devices' || route.name === 'device'),
        me.role === 'tenant' ? null : link('#/compliance', t('navCompliance'), route.name === 'compliance'),
      ),
      h(
        'div',
        { class: 'tools' },
        h(
          'span',
          {
            class: `live live-${streamState}`,
            'data-live': streamState,
            title: t('liveTitle'),
            role: 'status',
          },
          h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
          t(stateKey),
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-quiet sound-toggle',
            'data-key': 'sound',
            'aria-pressed': String(!muted),
            title: t('soundToggle'),
            onclick: () => {
              alarm.setMuted(!alarm.isMuted())
              if (!alarm.isMuted()) alarm.unlock()
              renderHeader()
            },
          },
          t('sound'),
          h(
            'span',
            { class: `sound-state${muted ? ' is-muted' : ''}`, 'aria-hidden': 'true' },
            t(muted ? 'soundOff' : 'soundOn'),
          ),
        ),
        langButton(),
        h(
          'span',
          { class: 'user', title: t('signedInAs') },
          datum(me.name),
          h('small', null, ` · ${t(ROLE_KEYS[me.role])}`),
        ),
        h(
          'button',
          { type: 'button', class: 'btn btn-quiet', 'data-key': 'logout', onclick: () => logout() },
          t('logout'),
        ),
      ),
    )
  }

  function renderLogin(): void {
    const t = i18n.t
    const input = h('input', {
      id: 'token',
      name: 'token',
      type: 'password',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
      'data-key': 'token',
    })
    const error = loginMessage ? h('p', { class: 'error-text', role: 'alert' }, loginMessage) : null
    swap(
      main,
      h(
        'div',
        { class: 'login' },
        h(
          'form',
          {
            class: 'panel login-form',
            onsubmit: (event: Event) => {
              event.preventDefault()
              alarm.unlock()
              void login(input.value.trim())
            },
          },
          h('h1', null, t('loginTitle')),
          h('p', { class: 'muted' }, t('loginIntro')),
          h('div', { class: 'field' }, h('label', { for: 'token' }, t('tokenLabel')), input),
          error,
          h(
            'button',
            { type: 'submit', class: 'btn btn-primary btn-large', 'data-key': 'login' },
            t('loginButton'),
          ),
        ),
      ),
    )
    if (!main.contains(document.activeElement)) input.focus()
  }

  async function login(token: string): Promise<void> {
    if (!token) return
    const api = createApi(token)
    try {
      const me = await api.me()
      const [sites, tenants] = await Promise.all([api.sites(), api.tenants()])
      sessionStorage.setItem(TOKEN_KEY, token)
      loginMessage = null
      begin({
        token,
        me,
        sites: new Map(sites.items.map((s) => [s.id, s])),
        tenants: new Map(tenants.items.map((tn) => [tn.id, tn])),
      })
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY)
      loginMessage =
        err instanceof ApiError && err.status === 401
          ? i18n.t('loginInvalid')
          : i18n.t('loadFailed', { message: err instanceof Error ? err.message : String(err) })
      renderHeader()
      renderLogin()
    }
  }

  function logout(message: string | null = null): void {
    stream?.stop()
    stream = null
    view?.dispose?.()
    view = null
    ctx = null
    session = null
    ringing.clear()
    rescues.clear()
    renderStrip()
    window.clearInterval(repeatTimer)
    repeatTimer = undefined
    sessionStorage.removeItem(TOKEN_KEY)
    loginMessage = message
    updateTitle()
    renderHeader()
    renderLogin()
  }

  function onAlertEvent(event: LiveAlertEvent): void {
    const { alert, change } = event
    const isNew = change.transition === 'raised' || change.transition === 'escalated'
    if (alert.severity === 'critical' && alert.status === 'open') {
      if (!ringing.has(alert.id) || isNew) {
        alarm.ring()
        announcer.textContent = i18n.t('newCritical', {
          title: i18n.pick(alert.title),
          device: deviceLabel(alert),
        })
      }
      ringing.set(alert.id, alert)
    } else {
      ringing.delete(alert.id)
    }
    if (alert.type === 'trapped' && alert.status !== 'resolved') rescues.set(alert.id, alert)
    else rescues.delete(alert.id)
    updateTitle()
    renderStrip()
    view?.onAlert?.(event)
  }

  function begin(s: Session): void {
    session = s
    const api = createApi(s.token, () => logout(i18n.t('loginExpired')))
    ctx = {
      i18n,
      me: s.me,
      api,
      sites: s.sites,
      tenants: s.tenants,
      streamState: () => streamState,
      rerender: scheduleRender,
      navigate: (hash) => {
        if (location.hash === hash) renderRoute()
        else location.hash = hash
      },
      askNote,
      act: async (alert: Alert, action: AlertAction, note?: string) => {
        try {
          return await api.act(alert.id, action, note)
        } catch (err) {
          toast(
            i18n.t('actionFailed', { message: err instanceof Error ? err.message : String(err) }),
            'error',
          )
          return null
        }
      },
      toast,
    }
    stream = createAlertStream({
      authorization: api.authorization,
      onEvent: onAlertEvent,
      onSync: () => {
        void syncAlarms()
        view?.onSync?.()
      },
      onState: (state) => {
        streamState = state
        renderHeader()
      },
      onUnauthorized: () => logout(i18n.t('loginExpired')),
    })
    stream.start()
    repeatTimer = window.setInterval(() => {
      if ([...ringing.values()].some((a) => a.status === 'open')) alarm.ring()
    }, REPEAT_ALARM_MS)
    renderRoute()
  }

  function createView(c: Ctx, route: Route): View {
    switch (route.name) {
      case 'alert':
        return createAlertView(c, route.id)
      case 'devices':
        return createDevicesView(c, route.query)
      case 'device':
        return createDeviceView(c, route.id)
      case 'compliance':
        return createComplianceView(c, route.query)
      default:
        return createBoardView(c, route.query)
    }
  }

  function renderRoute(): void {
    if (!ctx) return
    view?.dispose?.()
    view = createView(ctx, parseRoute(location.hash))
    view.onSync?.()
    renderHeader()
    renderStrip()
    renderView()
    window.scrollTo(0, 0)
  }

  let isRenderPending = false
  /** Coalesces the re-renders asked for within one frame (a burst of live changes renders once). */
  function scheduleRender(): void {
    if (isRenderPending) return
    isRenderPending = true
    requestAnimationFrame(() => {
      isRenderPending = false
      renderView()
    })
  }

  function renderView(): void {
    if (!view) return
    swap(main, view.render())
    refreshLiveTimes(main, i18n, Date.now())
  }

  function askNote(action: 'resolve' | 'comment'): Promise<string | null> {
    const t = i18n.t
    return new Promise((resolve) => {
      const textarea = h('textarea', { id: 'note', name: 'note', rows: 4, required: true, maxlength: 2000 })
      const problem = h('p', { class: 'error-text', role: 'alert', hidden: true }, t('noteRequired'))
      let answer: string | null = null
      const form = h(
        'form',
        {
          method: 'dialog',
          onsubmit: (event: Event) => {
            const note = textarea.value.trim()
            if (!note) {
              event.preventDefault()
              problem.hidden = false
              textarea.focus()
              return
            }
            answer = note
          },
        },
        h('h2', null, t(action === 'resolve' ? 'noteDialogResolve' : 'noteDialogComment')),
        h(
          'div',
          { class: 'field' },
          h('label', { for: 'note' }, t(action === 'resolve' ? 'noteLabel' : 'commentLabel')),
          textarea,
        ),
        problem,
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'btn btn-secondary',
              'data-dialog': 'cancel',
              onclick: () => dialog.close(),
            },
            t('cancel'),
          ),
          h(
            'button',
            {
              type: 'submit',
              class: 'btn btn-primary',
              'data-dialog': 'confirm',
              'data-action-confirm': action,
            },
            t(action === 'resolve' ? ACTION_KEYS.resolve : ACTION_KEYS.comment).replace(/…$/, ''),
          ),
        ),
      )
      dialog.replaceChildren(form)
      dialog.addEventListener('close', () => resolve(answer), { once: true })
      dialog.showModal()
      textarea.focus()
    })
  }

  window.addEventListener('hashchange', () => {
    if (session) renderRoute()
  })
  window.setInterval(() => refreshLiveTimes(main, i18n, Date.now()), 1000)

  applyLang()
  const saved = sessionStorage.getItem(TOKEN_KEY)
  renderHeader()
  if (saved) {
    swap(main, h('p', { class: 'loading', role: 'status' }, i18n.t('loading')))
    void login(saved)
  } else renderLogin()
}
