/**
 * Device secrets and API tokens: generated here, shown once, stored only as hashes.
 *
 * Device secrets are kept as scrypt hashes (the parameters travel in the stored string, so they can
 * be raised without a migration). API tokens are checked on every HTTP request and carry 256 random
 * bits, so a SHA-256 digest indexed for lookup is as safe and keeps revocation instant.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export type ScryptParams = { N: number; r: number; p: number }

/**
 * N=2^12 costs ~9 ms here: a storm of 2,000 devices reconnecting after a broker restart is
 * verified in ~10 s on two cores. The secrets are 256-bit random, so the cost guards a leaked
 * database against nothing a higher N would; raise it with SECRET_HASH_COST when that changes.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 4096, r: 8, p: 1 }
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

/** `scrypt$N$r$p$salt$hash`, salt and hash base64url. */
export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(secret, salt, params)
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  )
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
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
