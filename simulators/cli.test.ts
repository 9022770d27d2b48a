/**
 * `npm run simulate` as a user runs it: a child process against the real broker on port 0, sharing the
 * registry file under its --data-dir.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { isDomainError } from '../domain/errors.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { startTestBroker } from '../test/support/broker.ts'
import { parseCliArgs, parseDurationMs } from './cli-args.ts'
import { defaultCredentialsFile } from './provision.ts'

const ROOT = join(import.meta.dirname, '..')

type Run = { code: number | null; stdout: string; stderr: string }

/** Runs the CLI; with `interruptWhen`, sends SIGINT once its stderr matches (a progress line, say). */
function simulate(args: string[], options: { interruptWhen?: RegExp } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'simulators/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    onTestFinished(() => {
      if (child.exitCode === null && child.pid) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    let isInterrupted = false
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (options.interruptWhen && !isInterrupted && options.interruptWhen.test(stderr)) {
        isInterrupted = true
        child.kill('SIGINT')
      }
    })
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, stdout, stderr })
    })
  })
}

async function brokerOver(dataDir: string) {
  const registry = createRegistry({ file: registryFile(dataDir) })
  const received: string[] = []
  const broker = await startTestBroker(registry, async (message) => {
    received.push(message.clientId)
  })
  onTestFinished(async () => {
    await broker.stop()
    registry.close()
  })
  return { url: `mqtt://127.0.0.1:${broker.port()}`, received }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'simulate-cli-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('simulate CLI arguments', () => {
  it('parses durations, ranges and defaults', () => {
    expect(parseDurationMs('10m')).toBe(600_000)
    expect(parseDurationMs('1.5h')).toBe(5_400_000)
    expect(parseDurationMs('90')).toBe(90_000)
    expect(parseDurationMs('500ms')).toBe(500)
    expect(parseDurationMs('ten')).toBeNull()
    const args = parseCliArgs(
      ['--elevators', '1000', '--scales', '1000', '--trapped-release', '8m..20m', '--no-trapped-event'],
      { DATA_DIR: '/srv/liftscale' },
    )
    expect(args).toMatchObject({
      elevators: 1000,
      scales: 1000,
      trappedRelease: [480_000, 1_200_000],
      noTrappedEvent: true,
      dataDir: '/srv/liftscale',
      url: 'mqtt://127.0.0.1:1883',
      ramp: 100,
    })
    expect(parseCliArgs([], {}).dataDir).toBe('./data')
  })

  it('reports every bad option at once, by flag', () => {
    try {
      parseCliArgs(
        ['--elevators=-3', '--duration', 'soon', '--status-period', '1.5s', '--url', 'http://x'],
        {},
      )
      expect.unreachable()
    } catch (err) {
      expect(isDomainError(err, 'USAGE')).toBe(true)
      const problems = isDomainError(err) && Array.isArray(err.details?.problems) ? err.details.problems : []
      expect(problems.map((p) => String(p).split(':')[0]).sort()).toEqual([
        '--duration',
        '--elevators',
        '--status-period',
        '--url',
      ])
      expect(problems).toContain('--elevators: Too small: expected number to be >=0')
    }
    expect(() => parseCliArgs(['--unknown'], {})).toThrow(/unknown/i)
  })
})

describe('npm run simulate', () => {
  it('provisions, runs for --duration and prints a JSON summary; reruns reuse the credentials', async () => {
    const dataDir = tempDir()
    // The registry must exist before the broker opens it; the CLI then adds the devices.
    createRegistry({ file: registryFile(dataDir) }).close()
    const { url, received } = await brokerOver(dataDir)
    const args = ['--elevators', '3', '--scales', '2', '--duration', '3s', '--seed', '5']
    const run = await simulate([
      ...args,
      '--url',
      url,
      '--data-dir',
      dataDir,
      '--json',
      '--status-period',
      '1s',
    ])
    // Progress lines only: no warning or error logged.
    expect(run.stderr).not.toMatch(/"level":[456]0/)
    expect(run.stderr).toMatch(/connected \d+\/5/)
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary).toMatchObject({ devices: 5, everConnected: 5, refused: 0, pending: 0, seed: '5' })
    expect(summary.byKind.elevator.everConnected).toBe(3)
    expect(summary.acknowledged).toBe(summary.sent)
    expect(received.length).toBe(summary.acknowledged)
    const credentials = defaultCredentialsFile(dataDir)
    expect(statSync(credentials).mode & 0o777).toBe(0o600)

    // Against a remote broker: only the credentials file, no registry in that data dir.
    const elsewhere = tempDir()
    const again = await simulate([
      '--credentials',
      credentials,
      '--scales',
      '1',
      '--duration',
      '2s',
      '--url',
      url,
      '--data-dir',
      elsewhere,
    ])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^total\s+4\s+4\s/m)
    expect(again.stdout).toMatch(/by topic: elevator_status \d+/)
    expect(existsSync(registryFile(elsewhere))).toBe(false)
  })

  it('stops cleanly on SIGINT and still prints the summary', async () => {
    const dataDir = tempDir()
    createRegistry({ file: registryFile(dataDir) }).close()
    const { url } = await brokerOver(dataDir)
    const run = await simulate(['--elevators', '2', '--scales', '2', '--url', url, '--data-dir', dataDir], {
      // The first progress line: the fleet is running.
      interruptWhen: /connected \d+\/4/,
    })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/liftscale simulator: 4 devices/)
    expect(run.stdout).toMatch(/^elevators\s+2\s+\d+\s/m)
  })

  it('exits 2 with the problems for bad options', async () => {
    const run = await simulate(['--elevators', 'many', '--ramp', '0'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--elevators: /)
    expect(run.stderr).toMatch(/--ramp: /)
  })
})
