/**
 * Times that move: countdowns to the rescue limits and "12 min ago". Rendered once as elements
 * carrying their instants in data attributes; a one-second ticker rewrites only their text, so the
 * rest of the page (focus, open selects) is left alone.
 */
import { h } from './dom.ts'
import { formatClock, formatDuration } from './format.ts'
import type { Translator } from './i18n.ts'

/** A countdown from `start` to `deadline`, settled at `doneAt` when the stage happened. */
export function countdown(opts: { start: number; deadline: number; doneAt: number | null }): HTMLElement {
  return h('span', {
    class: 'countdown',
    role: 'timer',
    'data-start': opts.start,
    'data-deadline': opts.deadline,
    'data-done': opts.doneAt ?? '',
  })
}

/** "3 min 12 s ago", kept current. */
export function elapsed(since: number): HTMLElement {
  return h('span', { class: 'elapsed', 'data-since': since })
}

function num(el: Element, name: string): number | null {
  const value = el.getAttribute(name)
  if (value === null || value === '') return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

export function refreshLiveTimes(root: ParentNode, i18n: Translator, now: number): void {
  for (const el of root.querySelectorAll('.countdown')) {
    const start = num(el, 'data-start') ?? now
    const deadline = num(el, 'data-deadline') ?? now
    const doneAt = num(el, 'data-done')
    let text: string
    let state: 'ok' | 'late' | 'running' | 'soon'
    if (doneAt !== null) {
      const took = formatDuration(doneAt - start, i18n)
      state = doneAt <= deadline ? 'ok' : 'late'
      text = i18n.t(state === 'ok' ? 'doneWithin' : 'doneLate', { t: took })
    } else if (now <= deadline) {
      const left = deadline - now
      state = left < 60_000 ? 'soon' : 'running'
      text = i18n.t('timeLeft', { t: formatClock(left) })
    } else {
      state = 'late'
      text = i18n.t('timeOver', { t: formatClock(now - deadline) })
    }
    if (el.textContent !== text) el.textContent = text
    el.setAttribute('data-state', state)
  }
  for (const el of root.querySelectorAll('.elapsed')) {
    const since = num(el, 'data-since') ?? now
    const text = i18n.t('ago', { d: formatDuration(now - since, i18n) })
    if (el.textContent !== text) el.textContent = text
  }
}
