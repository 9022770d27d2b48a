/**
 * Registered fleets for the benchmark, kept between runs: provisioning 20,000 devices hashes 20,000
 * secrets (scrypt, ~9 ms each at the production cost), which is not what a run measures. A fleet is
 * provisioned once into a cache folder (registry + credentials file, mode 0600) and each run gets a
 * fresh copy of that registry in its own data directory.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRegistry, registryFile } from '../../registry/registry.ts'
import type { ScryptParams } from '../../registry/secrets.ts'
import { provisionFleet } from '../../simulators/provision.ts'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'

/** production: the registry's default (DEFAULT_SCRYPT, what devices in the field log in with). */
export type SecretCost = 'production' | 'fast'

// Secrets are random 256-bit strings; a cheap hash makes logins cost nothing (tests use the same).
const FAST_SCRYPT: ScryptParams = { N: 16, r: 1, p: 1 }

export const scryptFor = (cost: SecretCost): ScryptParams | undefined =>
  cost === 'fast' ? FAST_SCRYPT : undefined

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
    `fleet-${options.elevators}e-${options.scales}s-${options.cost}-${options.seed}`,
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
