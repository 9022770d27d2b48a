/**
 * Keeps `npm run bench` working: each profile at its `--smoke` size, as a child process, must complete
 * and print its table with readings in it. Speed is never asserted (two shared cores).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Row } from './lib/report.ts'

const ROOT = join(import.meta.dirname, '..')

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    onTestFinished(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('npm run bench -- --smoke', () => {
  for (const profile of ['throughput', 'district', 'connections'] as const) {
    it(`${profile} completes and prints its table with readings`, { timeout: 240_000 }, async () => {
      const cache = mkdtempSync(join(tmpdir(), 'bench-smoke-cache-'))
      onTestFinished(() => rmSync(cache, { recursive: true, force: true }))
      const { code, stdout, stderr } = await runBench([
        '--smoke',
        '--profile',
        profile,
        '--json',
        '--cache-dir',
        cache,
      ])
      expect(code, stderr.slice(-3000)).toBe(0)
      // The table (stderr under --json) …
      expect(stderr).toContain(`## ${profile}`)
      expect(stderr).toMatch(/\| profile \| target \| run \| size \| readings\/s/)
      // … and the same rows as JSON.
      const result = JSON.parse(stdout) as { rows: Row[]; failures: string[] }
      expect(result.failures).toEqual([])
      const rows = result.rows.filter((r) => r.profile === profile)
      expect(rows.length).toBeGreaterThan(0)
      for (const row of rows) {
        expect(row.acked).toBeGreaterThan(0)
        expect(row.readingsPerS).toBeGreaterThan(0)
        expect(row.lost).toBe(0)
      }
      // What the platform acknowledged is in InfluxDB.
      const platform = rows.find((r) => r.target === 'platform')
      expect(platform?.stored ?? 0).toBeGreaterThan(0)
      if (profile === 'throughput') expect(rows.map((r) => r.target)).toContain('aedes')
      if (profile === 'district') expect(platform?.alertMs?.count).toBeGreaterThan(0)
    })
  }

  for (const mode of ['brokers', 'subscriber'] as const) {
    it(`connections --brokers 2 --cluster-ingest ${mode} (Redis, two brokers, ingest, alerts) completes`, {
      timeout: 240_000,
    }, async () => {
      const cache = mkdtempSync(join(tmpdir(), 'bench-smoke-cache-'))
      onTestFinished(() => rmSync(cache, { recursive: true, force: true }))
      const { code, stdout, stderr } = await runBench([
        '--smoke',
        '--profile',
        'connections',
        '--brokers',
        '2',
        '--cluster-ingest',
        mode,
        '--json',
        '--cache-dir',
        cache,
      ])
      expect(code, stderr.slice(-3000)).toBe(0)
      const result = JSON.parse(stdout) as { rows: Row[]; failures: string[] }
      expect(result.failures).toEqual([])
      const [row] = result.rows
      expect(row?.size).toContain('2 brokers')
      expect(row?.size).toContain(mode === 'brokers' ? 'each storing its devices' : 'one ingest subscriber')
      expect(row?.acked).toBeGreaterThan(0)
      // The run waits until InfluxDB holds every acknowledged reading (in Redis only, with a subscriber).
      expect(row?.lost).toBe(0)
      expect(row?.stored ?? 0).toBeGreaterThanOrEqual(row?.acked ?? 1)
      // Stored lines counted where they were written: by the brokers, or by the ingest process.
      expect(row?.readingsPerS ?? 0).toBeGreaterThan(0)
      for (const name of ['broker1', 'broker2', 'ingest', 'alerts', 'redis']) {
        expect(row?.extra[`${name}PeakRssMiB`]).toBeGreaterThan(0)
      }
    })
  }
})
