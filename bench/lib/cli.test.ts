import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..')
const TOOLS = ['run.ts', 'ingest.ts', 'profile-top.ts', 'heap-owners.ts']

function runTool(tool: string, args: string[]) {
  const out = spawnSync(process.execPath, ['--import', 'tsx', join(BENCH, tool), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: out.status, stdout: out.stdout, stderr: out.stderr }
}

describe('the bench tools’ command lines', () => {
  it.each(TOOLS)('%s: --help prints the usage; a wrong option says which, with the usage, exit 2', (tool) => {
    const help = runTool(tool, ['--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: /)
    const wrong = runTool(tool, ['--no-such-option'])
    expect(wrong.status).toBe(2)
    expect(wrong.stderr).toContain("Unknown option '--no-such-option'")
    expect(wrong.stderr).toContain('usage: ')
    expect(wrong.stderr).not.toMatch(/^\s+at /m) // no stack trace
  })

  it('refuses a count that is not a whole number above 0', () => {
    const out = runTool('profile-top.ts', ['some.cpuprofile', '--top', 'many'])
    expect(out.status).toBe(2)
    expect(out.stderr).toContain('--top must be a whole number above 0, not "many"')
    const ingest = runTool('ingest.ts', ['--devices', '0'])
    expect(ingest.status).toBe(2)
    expect(ingest.stderr).toContain('--devices must be a whole number above 0, not "0"')
  })
})
