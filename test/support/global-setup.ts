/**
 * One InfluxDB for the whole test run, started here unless INFLUX_TEST_URL points at one already.
 * Tests read its URL with `inject('influxUrl')` and create their own databases in it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { type Influxd, startInfluxd } from './influxd.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    influxUrl: string
  }
}

let server: Influxd | null = null
let dir: string | null = null

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.INFLUX_TEST_URL
  if (external) {
    project.provide('influxUrl', external)
    return
  }
  dir = mkdtempSync(join(tmpdir(), 'influxd-test-'))
  server = await startInfluxd({ dir })
  project.provide('influxUrl', server.url)
}

export async function teardown(): Promise<void> {
  await server?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
}
