/**
 * Times and durations as a duty officer reads them. Every time is shown in Asia/Shanghai whatever the
 * browser's own zone (a firm's engineer may carry a phone set to another zone), in one numeric form
 * for both languages: 2025-03-01 14:05:09.
 */
import type { Translator } from './i18n.ts'

export const TIME_ZONE = 'Asia/Shanghai'

const PARTS = new Intl.DateTimeFormat('en-US', {
  timeZone: TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
})

type Parts = { year: string; month: string; day: string; hour: string; minute: string; second: string }

function partsOf(ms: number): Parts {
  const out: Parts = { year: '', month: '', day: '', hour: '', minute: '', second: '' }
  for (const part of PARTS.formatToParts(ms)) {
    if (part.type in out) out[part.type as keyof Parts] = part.value
  }
  return out
}

/** 2025-03-01 14:05:09 (Asia/Shanghai). */
export function formatDateTime(ms: number): string {
  const p = partsOf(ms)
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`
}

/** 14:05:09 (Asia/Shanghai). */
export function formatTime(ms: number): string {
  const p = partsOf(ms)
  return `${p.hour}:${p.minute}:${p.second}`
}

/** The calendar date in Asia/Shanghai: 2025-03-01. */
export function shanghaiDate(ms: number): string {
  const p = partsOf(ms)
  return `${p.year}-${p.month}-${p.day}`
}

/** Whole seconds as mm:ss, or h:mm:ss past an hour (countdowns). */
export function formatClock(totalMs: number): string {
  const total = Math.max(0, Math.floor(totalMs / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const mm = String(m).padStart(2, '0')
  const ss = String(s).padStart(2, '0')
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

/** A span of time in words: 45 s, 3 min 12 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms: number, i18n: Translator): string {
  const total = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(total / 86400)
  const h = Math.floor((total % 86400) / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  if (d > 0) return i18n.t('durD', { d, h })
  if (h > 0) return i18n.t('durH', { h, m })
  if (m > 0) return i18n.t('dur', { m, s })
  return i18n.t('durS', { s })
}

/** 0.9912 -> 99.1%; null -> —. */
export function formatPercent(rate: number | null, digits = 1): string {
  if (rate === null || !Number.isFinite(rate)) return '—'
  return `${(rate * 100).toFixed(digits)}%`
}
