/**
 * Device secrets and API tokens: generated here, shown once, stored only as digests.
 *
 * Every secret and token carries 256 random bits from the OS CSPRNG, so a SHA-256 digest guards a
 * leaked database as well as any slow hash would: a slow hash (scrypt) buys time against guessing
 * low-entropy passwords, and nothing here is one. It does cost time at every first login, and after a
 * restart every device logs in again at once: with scrypt (N=2^12, ~9 ms) 20,000 devices took
 * 100-220 s to be let back in on two cores, 50,000 would take minutes, minutes in which a trapped
 * passenger's signal waits in the controller. New secrets are stored as `sha256$digest`; stored scrypt
 * hashes (`scrypt$N$r$p$salt$hash`, before 2026-11) still verify, and are replaced at the next rotation.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export type ScryptParams = { N: number; r: number; p: number }

const KEY_LENGTH = 32

/** A new secret: 32 random bytes, base64url (43 characters, safe in any MQTT client's password field). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url')
}

function scryptAsync(secret: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LENGTH, { ...params, maxmem: 256 * params.N * params.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

/** `sha256$digest` (base64url): how new secrets are stored. */
export function storedDigest(secret: string): string {
  return `sha256$${digest(secret)}`
}

/** `scrypt$N$r$p$salt$hash`, salt and hash base64url: the earlier form, kept for tests of old rows. */
export async function hashSecret(secret: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(secret, salt, params)
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  )
}

/** Does `secret` match the stored form, either `sha256$…` or `scrypt$…`? Constant-time comparison. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  if (stored.startsWith('sha256$')) {
    const expected = Buffer.from(stored.slice('sha256$'.length), 'base64url')
    const actual = createHash('sha256').update(secret).digest()
    return expected.length === actual.length && timingSafeEqual(actual, expected)
  }
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [, n, r, p, salt = '', hash = ''] = parts
  const params = { N: Number(n), r: Number(r), p: Number(p) }
  if (!Number.isInteger(params.N) || !Number.isInteger(params.r) || !Number.isInteger(params.p)) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), params)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** Fast digest, for API tokens and for the cache of secrets already verified. */
export function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

/** API token: `lsk_` + 32 random bytes. The prefix lets secret scanners and people recognise it. */
export function generateApiToken(): string {
  return `lsk_${randomBytes(32).toString('base64url')}`
}
