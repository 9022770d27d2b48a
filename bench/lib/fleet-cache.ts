/**
 * Registered fleets for the benchmark, kept between runs: provisioning 20,000 devices writes 20,000
 * credentials (and with `--secret-cost scrypt` hashes each, ~9 ms apiece), which is not what a run
 * measures. A fleet is provisioned once into a cache folder (registry + credentials file, mode 0600)
 * and each run gets a fresh copy of that registry in its own data directory.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRegistry, registryFile } from '../../registry/registry.ts'
import type { ScryptParams } from '../../registry/secrets.ts'
import { provisionFleet } from '../../simulators/provision.ts'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'

/**
 * production: the registry's default (SHA-256 digests, what devices in the field log in with now);
 * scrypt: secrets stored as before 2026-11 (scrypt N=2^12, ~9 ms a first login), for comparison;
 * fast: scrypt at a token cost (the tests' setting).
 */
export type SecretCost = 'production' | 'scrypt' | 'fast'

const SCRYPT_BEFORE: ScryptParams = { N: 4096, r: 8, p: 1 }
const FAST_SCRYPT: ScryptParams = { N: 16, r: 1, p: 1 }

export const scryptFor = (cost: SecretCost): ScryptParams | undefined =>
  cost === 'fast' ? FAST_SCRYPT : cost === 'scrypt' ? SCRYPT_BEFORE : undefined

/** The cache folder's name for a cost: by how secrets are stored (fleets cached before keep theirs). */
const STORED_AS: Record<SecretCost, string> = { production: 'sha256', scrypt: 'scrypt4096', fast: 'fast' }

export type CachedFleet = {
  devices: SimulatedDeviceSpec[]
  /** Seconds spent provisioning now (0 when the cache had it all). */
  provisionS: number
  cacheDir: string
}

export function defaultCacheDir(): string {
  return join(tmpdir(), 'liftscale-bench')
}

/** The fleet `sim-…` of this size and seed, provisioned into the cache if it is not there yet. */
export async function cachedFleet(options: {
  elevators: number
  scales: number
  seed: string
  cost: SecretCost
  cacheRoot?: string
}): Promise<CachedFleet> {
  const cacheDir = join(
    options.cacheRoot ?? defaultCacheDir(),
    `fleet-${options.elevators}e-${options.scales}s-${STORED_AS[options.cost]}-${options.seed}`,
  )
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
  const started = performance.now()
  const registry = createRegistry({ file: registryFile(cacheDir), scrypt: scryptFor(options.cost) })
  try {
    const devices = await provisionFleet(registry, {
      elevators: options.elevators,
      scales: options.scales,
      seed: options.seed,
      prefix: 'sim',
      credentialsFile: join(cacheDir, 'credentials.json'),
    })
    // The copy each run takes is of the main file: everything must be in it.
    registry.db.pragma('wal_checkpoint(TRUNCATE)')
    return { devices, provisionS: (performance.now() - started) / 1000, cacheDir }
  } finally {
    registry.close()
  }
}

/**
 * A run's data directory holding a copy of the cached registry, plus a service account that may
 * subscribe to `alerts/…` (the benchmark's alert watcher). Returns its password.
 */
export async function prepareDataDir(
  fleet: CachedFleet,
  dataDir: string,
  cost: SecretCost,
): Promise<{ serviceUser: string; servicePassword: string }> {
  mkdirSync(dataDir, { recursive: true })
  const source = registryFile(fleet.cacheDir)
  if (!existsSync(source)) throw new Error(`no cached registry in ${fleet.cacheDir}`)
  copyFileSync(source, registryFile(dataDir))
  const registry = createRegistry({ file: registryFile(dataDir), scrypt: scryptFor(cost) })
  try {
    const serviceUser = 'svc-bench'
    const servicePassword = await registry.createServiceAccount(serviceUser)
    return { serviceUser, servicePassword }
  } finally {
    registry.close()
  }
}
