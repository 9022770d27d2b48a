import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { COMMANDS, runCli } from './cli.ts'
import { createRegistry, registryFile } from './registry.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SAMPLES = fileURLToPath(new URL('./samples/', import.meta.url))

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs the CLI in-process against `dataDir` (through DATA_DIR, as an operator's shell would). */
function cli(dataDir: string) {
  return async (...argv: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await runCli(argv, {
      env: { DATA_DIR: dataDir },
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      cwd: dataDir,
    })
    return { code, stdout, stderr, json: () => JSON.parse(stdout) }
  }
}

/** A registry connection of our own, as the broker would open it, to check what the CLI wrote. */
function openRegistry(dataDir: string) {
  const registry = createRegistry({ file: registryFile(dataDir) })
  onTestFinished(() => registry.close())
  return registry
}

async function seed(run: ReturnType<typeof cli>) {
  expect(
    (await run('tenant', 'create', '--name', '华夏维保', '--kind', 'maintenance_firm', '--id', 'firm-a'))
      .code,
  ).toBe(0)
  expect(
    (
      await run(
        'site',
        'create',
        '--name',
        '宝丰路农贸市场',
        '--category',
        'market',
        '--address',
        '宝丰路18号',
        '--id',
        'st-1',
      )
    ).code,
  ).toBe(0)
  const elevator = await run(
    'device',
    'add-elevator',
    '--json',
    '--site',
    'st-1',
    '--tenant',
    'firm-a',
    '--id',
    'el-1',
    '--registration-code',
    '31104201042015000001',
    '--rated-speed',
    '1.75',
    '--floors',
    '6',
    '--next-inspection',
    '2027-03-11',
    '--last-maintenance',
    '2026-11-10 14:30',
  )
  expect(elevator.code).toBe(0)
  return elevator.json()
}

describe('registry CLI', () => {
  it('creates tenants, sites and devices and lists them', async () => {
    const dataDir = tempDataDir()
    const run = cli(dataDir)
    const elevator = await seed(run)
    expect(elevator).toMatchObject({
      id: 'el-1',
      floors: 6,
      lastMaintenanceAt: Date.parse('2026-11-10T06:30:00Z'),
    })
    const scale = await run(
      'device',
      'add-scale',
      '--site',
      'st-1',
      '--tenant',
      'firm-a',
      '--certificate-no',
      'QK-1',
      '--max-kg',
      '30',
      '--e-g',
      '10',
      '--out-of-service',
      '--json',
    )
    expect(scale.code).toBe(0)
    const scaleId = scale.json().id
    expect(await run('device', 'in-service', scaleId, 'true')).toMatchObject({ code: 0 })

    const registry = openRegistry(dataDir)
    expect(registry.getDeviceContext('el-1')).toMatchObject({
      device: { registrationCode: '31104201042015000001', nextInspectionDue: '2027-03-11' },
      site: { category: 'market', name: '宝丰路农贸市场' },
      tenant: { kind: 'maintenance_firm' },
    })
    expect(registry.getDevice(scaleId)).toMatchObject({ kind: 'scale', inService: true, eG: 10 })

    const list = await run('device', 'list', '--kind', 'elevator', '--json')
    expect(list.json().map((d: { id: string }) => d.id)).toEqual(['el-1'])
    const human = await run('device', 'list')
    expect(human.stdout).toMatch(/el-1 +elevator +st-1 +firm-a/)
    expect(human.stdout).toMatch(/2 device\(s\)/)
    expect((await run('tenant', 'list', '--json')).json()).toEqual([
      expect.objectContaining({ id: 'firm-a', devices: 2 }),
    ])
    const show = await run('device', 'show', 'el-1')
    expect(show.stdout).toMatch(/registration code +31104201042015000001/)
    expect(show.stdout).toMatch(/secret +none issued/)

    // refusals name the problem and its code
    const duplicate = await run(
      'tenant',
      'create',
      '--name',
      'x',
      '--kind',
      'maintenance_firm',
      '--id',
      'firm-a',
    )
    expect(duplicate).toMatchObject({ code: 1, stderr: expect.stringContaining('[ALREADY_EXISTS]') })
    const badCode = await run(
      ...['device', 'add-elevator', '--site', 'st-1', '--tenant', 'firm-a'],
      ...['--registration-code', '123', '--rated-speed', '1', '--floors', '5'],
    )
    expect(badCode).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/INVALID_INPUT.*registrationCode/),
    })
    const ghostSite = await run(
      ...['device', 'add-scale', '--site', 'st-ghost', '--tenant', 'firm-a'],
      ...['--certificate-no', 'QK-2', '--max-kg', '30', '--e-g', '10', '--json'],
    )
    expect(ghostSite.code).toBe(1)
    expect(JSON.parse(ghostSite.stderr)).toEqual({
      error: { code: 'UNKNOWN_REFERENCE', message: expect.any(String) },
    })
  })

  it('issues a device secret once, refuses to rotate it silently, rotates and revokes it', async () => {
    const dataDir = tempDataDir()
    const run = cli(dataDir)
    await seed(run)
    const issued = await run('device', 'secret', 'el-1', '--json')
    expect(issued.code).toBe(0)
    const { secret } = issued.json()
    const registry = openRegistry(dataDir)
    expect(await registry.checkCredentials('el-1', secret)).toMatchObject({ ok: true, kind: 'device' })

    const again = await run('device', 'secret', 'el-1')
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('[SECRET_EXISTS]') })
    expect(await registry.checkCredentials('el-1', secret)).toMatchObject({ ok: true })

    const rotated = await run('device', 'secret', 'el-1', '--rotate')
    expect(rotated.code).toBe(0)
    const newSecret = /^ {2}(\S+)$/m.exec(rotated.stdout)?.[1] ?? ''
    expect(rotated.stdout).toMatch(/cannot be shown again/)
    expect(await registry.checkCredentials('el-1', secret)).toEqual({ ok: false, reason: 'bad_secret' })
    expect(await registry.checkCredentials('el-1', newSecret)).toMatchObject({ ok: true })

    // the secret never shows up again
    for (const argv of [
      ['device', 'show', 'el-1'],
      ['device', 'list', '--json'],
      ['device', 'show', 'el-1', '--json'],
    ]) {
      const out = await run(...argv)
      expect(out.stdout).not.toContain(newSecret)
      expect(out.stdout).toMatch(/active|"version": 2/)
    }

    expect((await run('device', 'revoke', 'el-1')).code).toBe(0)
    expect(await registry.checkCredentials('el-1', newSecret)).toEqual({ ok: false, reason: 'revoked' })
    expect((await run('device', 'show', 'el-1')).stdout).toMatch(/secret +revoked/)
    expect((await run('device', 'revoke', 'el-ghost')).code).toBe(1)
  })

  it('creates, lists and revokes API tokens and service accounts', async () => {
    const dataDir = tempDataDir()
    const run = cli(dataDir)
    await seed(run)
    const created = await run(
      'token',
      'create',
      '--role',
      'tenant',
      '--tenant',
      'firm-a',
      '--name',
      'firm desk',
      '--json',
    )
    expect(created.code).toBe(0)
    const { token, id } = created.json()
    const registry = openRegistry(dataDir)
    expect(registry.authenticateToken(token)).toEqual({
      tokenId: id,
      name: 'firm desk',
      role: 'tenant',
      tenantId: 'firm-a',
    })
    const list = await run('token', 'list', '--json')
    expect(list.stdout).not.toContain(token)
    expect(list.json()).toEqual([expect.objectContaining({ id, role: 'tenant', revokedAt: null })])
    expect((await run('token', 'create', '--role', 'tenant', '--name', 'no tenant')).code).toBe(1)
    expect((await run('token', 'create', '--role', 'boss', '--name', 'x')).code).toBe(2)

    expect((await run('token', 'revoke', id)).code).toBe(0)
    expect(registry.authenticateToken(token)).toBeNull()
    expect((await run('token', 'revoke', id)).stderr).toContain('[NOT_FOUND]')

    const service = await run('service', 'create', 'ingest', '--json')
    expect(service.code).toBe(0)
    expect(await registry.checkCredentials('ingest', service.json().secret)).toEqual({
      ok: true,
      kind: 'service',
      username: 'ingest',
    })
    expect((await run('service', 'create', 'ingest')).code).toBe(1)
    expect((await run('service', 'create', 'el-1')).stderr).toContain('[ALREADY_EXISTS]')
    expect((await run('service', 'revoke', 'ingest')).code).toBe(0)
    expect(await registry.checkCredentials('ingest', service.json().secret)).toEqual({
      ok: false,
      reason: 'revoked',
    })
    expect((await run('service', 'list', '--json')).json()).toEqual([
      expect.objectContaining({ username: 'ingest', revokedAt: expect.any(Number) }),
    ])
  })

  it('imports a ledger: bad rows exit 1 and import nothing; then secrets for every imported device', async () => {
    const dataDir = tempDataDir()
    const run = cli(dataDir)
    const bad = join(dataDir, 'bad.csv')
    writeFileSync(
      bad,
      [
        '设备代码,维保单位编号,维保单位,场所编号,使用单位,场所类别,地址,额定速度,层站数',
        '31104201042015000001,firm-a,甲维保,st-1,甲市场,农贸市场,汉正街1号,1.75,6',
        '12345,firm-a,,st-1,,,,1.75,6',
        '31104201042015000003,firm-a,,st-1,,,,1.75,6',
        '31104201042015000001,firm-a,,st-1,,,,1.75,6',
      ].join('\r\n'),
    )
    const rejected = await run('import', 'bad.csv')
    expect(rejected.code).toBe(1)
    expect(rejected.stdout).toMatch(/^line 3, registrationCode: .*12345/m)
    expect(rejected.stdout).toMatch(/^line 5, registrationCode: .*also on line 2/m)
    expect(rejected.stdout).toMatch(/nothing imported/)
    expect(rejected.stderr).toContain('[IMPORT_REJECTED]')
    const asJson = await run('import', bad, '--json')
    expect(asJson.code).toBe(1)
    expect(asJson.json().errors.map((e: { line: number }) => e.line)).toEqual([3, 5])
    const registry = openRegistry(dataDir)
    expect(registry.countDevices()).toBe(0)
    expect(registry.listTenants()).toEqual([])

    const dry = await run('import', join(SAMPLES, 'elevators-zh.csv'), '--dry-run')
    expect(dry).toMatchObject({ code: 0, stdout: expect.stringMatching(/would import .*5 elevator/) })
    expect(registry.countDevices()).toBe(0)
    expect((await run('import', join(SAMPLES, 'elevators-zh.csv'))).code).toBe(0)
    expect((await run('import', join(SAMPLES, 'scales-zh.csv'), '--kind', 'scale')).code).toBe(0)
    expect(registry.countDevices()).toBe(10)

    // one device already has a secret: --all-missing leaves it alone
    const first = (await run('device', 'secret', 'sc-QK2026-000101', '--json')).json().secret
    const out = await run('device', 'secrets', '--all-missing', '--out', 'secrets.json')
    expect(out.code).toBe(0)
    const file = join(dataDir, 'secrets.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const secrets: { id: string; kind: string; secret: string }[] = JSON.parse(readFileSync(file, 'utf8'))
    expect(secrets).toHaveLength(9)
    expect(secrets.map((s) => s.id)).not.toContain('sc-QK2026-000101')
    for (const { id, secret } of secrets) {
      expect(await registry.checkCredentials(id, secret)).toMatchObject({ ok: true })
    }
    expect(await registry.checkCredentials('sc-QK2026-000101', first)).toMatchObject({ ok: true })
    // never overwrites a secrets file, and issues nothing when it cannot write
    const again = await run('device', 'secrets', '--all-missing', '--out', 'secrets.json')
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('[FILE_EXISTS]') })
    expect((await run('device', 'secrets', '--all-missing', '--json')).json()).toEqual([])
  })

  it('exits 2 with the usage on a usage error, 0 on --help for every command', async () => {
    const run = cli(tempDataDir())
    for (const argv of [
      ['frobnicate'],
      ['device', 'frob'],
      ['tenant', 'create', '--name', 'x'],
      ['tenant', 'create', '--name', 'x', '--kind', 'maintenance_firm', '--bogus'],
      ['device', 'show'],
      ['device', 'show', 'a', 'b'],
      ['device', 'in-service', 'el-1', 'maybe'],
      ['device', 'secrets'],
      [
        'device',
        'add-elevator',
        '--site',
        's',
        '--tenant',
        't',
        '--registration-code',
        '1',
        '--rated-speed',
        'fast',
        '--floors',
        '5',
      ],
    ]) {
      const result = await run(...argv)
      expect(result.code, argv.join(' ')).toBe(2)
      expect(result.stderr).toMatch(/usage error/)
    }
    expect((await run('tenant', 'create', '--name', 'x')).stderr).toMatch(/--kind: required/)
    for (const command of COMMANDS) {
      const help = await run(...command.words, '--help')
      expect(help.code).toBe(0)
      expect(help.stdout).toContain(`Usage: npm run cli -- ${command.words.join(' ')}`)
    }
    expect((await run('--help')).stdout).toMatch(/Commands:/)
    expect((await run('help', 'token', 'create')).stdout).toContain(
      'Usage: npm run cli -- token create --role',
    )
    expect((await run()).code).toBe(0)
  })

  it('runs as `npm run cli` in a child process', async () => {
    const dataDir = tempDataDir()
    const exec = promisify(execFile)
    const npm = (...args: string[]) =>
      exec('npm', ['run', '--silent', 'cli', '--', ...args], {
        cwd: ROOT,
        env: { ...process.env, DATA_DIR: dataDir },
      })
    const created = await npm(
      'tenant',
      'create',
      '--name',
      'Firm A',
      '--kind',
      'maintenance_firm',
      '--id',
      'firm-a',
      '--json',
    )
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'firm-a', kind: 'maintenance_firm' })
    const failed = await npm('device', 'show', 'ghost').catch((err: { code: number; stderr: string }) => err)
    expect(failed).toMatchObject({ code: 1, stderr: expect.stringContaining('[NOT_FOUND]') })
    expect(openRegistry(dataDir).getTenant('firm-a')?.name).toBe('Firm A')
  })

  it('is documented: docs/registry.md shows every command', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'registry.md'), 'utf8')
    for (const command of COMMANDS)
      expect(doc, command.words.join(' ')).toContain(`npm run cli -- ${command.words.join(' ')}`)
  })
})
