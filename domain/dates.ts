/**
 * Calendar dates as the regulator writes them: `YYYY-MM-DD` in Asia/Shanghai (UTC+8, no DST).
 * Certificates, due dates and compliance periods are calendar dates, not instants.
 */

export const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000
const DAY_MS = 86_400_000

/** The Asia/Shanghai calendar date of an instant. */
export function shanghaiDate(ms: number): string {
  return new Date(ms + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10)
}

/** Midnight Asia/Shanghai at the start of `date`, as ms since epoch. */
export function shanghaiMidnight(date: string): number {
  return Date.parse(`${date}T00:00:00.000Z`) - SHANGHAI_OFFSET_MS
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00.000Z`) + days * DAY_MS).toISOString().slice(0, 10)
}

/** Adds calendar months, clamping to the month's last day (2025-01-31 + 1 month = 2025-02-28). */
export function addMonths(date: string, months: number): string {
  const [y = 0, m = 1, d = 1] = date.split('-').map(Number)
  const target = new Date(Date.UTC(y, m - 1 + months, 1))
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  target.setUTCDate(Math.min(d, lastDay))
  return target.toISOString().slice(0, 10)
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS)
}

/**
 * Last day a certificate issued on `issuedOn` is valid for a period of `months`:
 * the day before the same date `months` later (verified 2025-03-15 for 12 months: valid until 2026-03-14).
 */
export function validUntil(issuedOn: string, months: number): string {
  return addDays(addMonths(issuedOn, months), -1)
}
