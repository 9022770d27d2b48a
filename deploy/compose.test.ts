/**
 * The deployment files, checked as far as a machine without a Docker engine allows: Debian's
 * docker-compose validates and interpolates docker-compose.yml (`config` needs no engine), the YAML is
 * checked for what the issue asks of each service, and every setting the platform reads, and every
 * ${VAR} compose and Grafana's provisioning use, is documented in .env.example.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parse } from 'yaml'
import { z } from 'zod'
import { DATASOURCE } from '../dashboards/common.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

const COMPOSE = read('docker-compose.yml')
const ENV_EXAMPLE = read('.env.example')

/** Secrets compose must refuse to start without. */
const SECRETS = ['INFLUX_TOKEN', 'INFLUX_ADMIN_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']

const ServiceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.unknown().optional(),
  profiles: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  env_file: z.unknown().optional(),
  volumes: z.array(z.string()).optional(),
  ports: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
  healthcheck: z.looseObject({ test: z.array(z.string()) }).optional(),
  command: z.array(z.string()).optional(),
})
const ComposeSchema = z.object({
  services: z.record(z.string(), ServiceSchema),
  volumes: z.record(z.string(), z.unknown()),
})
const compose = ComposeSchema.parse(parse(COMPOSE))

function service(name: string) {
  const s = compose.services[name]
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`)
  return s
}

/** Names documented in .env.example, set (`NAME=`) or commented out (`# NAME=`). */
function documented(): Set<string> {
  return new Set([...ENV_EXAMPLE.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? ''))
}

function hasDockerCompose(): boolean {
  return spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0
}

/** Runs Debian's docker-compose (v1, no engine needed for `config`) in a copy of the project's files. */
function composeConfig(
  env: string,
  args: string[] = [],
): { status: number | null; stdout: string; stderr: string } {
  if (!hasDockerCompose())
    throw new Error('docker-compose not found: apt-get install -y --no-install-recommends docker-compose')
  const dir = mkdtempSync(join(tmpdir(), 'compose-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'))
  writeFileSync(join(dir, '.env'), env)
  // A clean environment: a variable of the machine running the tests must not stand in for .env.
  const result = spawnSync('docker-compose', ['--project-directory', dir, ...args, 'config'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    encoding: 'utf8',
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** .env.example with every secret filled in, as an operator's .env. */
function filledEnv(except?: string): string {
  let env = ENV_EXAMPLE
  for (const secret of SECRETS) {
    if (secret !== except)
      env = env.replace(new RegExp(`^${secret}=$`, 'm'), `${secret}=test-${secret.toLowerCase()}`)
  }
  return env
}

describe('docker-compose.yml', () => {
  it('is valid for docker-compose, with and without the demo profile', () => {
    const plain = composeConfig(filledEnv())
    expect(plain.status, plain.stderr).toBe(0)
    // docker-compose prints the file as it will run: interpolated and normalised (ports as objects).
    const config = z
      .object({
        services: z.record(z.string(), z.looseObject({ environment: z.record(z.string(), z.string()) })),
      })
      .parse(parse(plain.stdout))
    expect(config.services.platform?.environment.INFLUX_TOKEN).toBe('test-influx_token')
    expect(config.services.grafana?.environment.GF_SECURITY_ADMIN_PASSWORD).toBe(
      'test-grafana_admin_password',
    )
    expect(config.services.influxdb?.environment.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe('test-influx_token')
    expect(config.services.influxdb?.environment.GOGC).toBe('200')
    const demo = composeConfig(filledEnv(), ['--profile', 'demo'])
    expect(demo.status, demo.stderr).toBe(0)
  })

  it.each(SECRETS)('refuses to start without %s', (secret) => {
    const result = composeConfig(filledEnv(secret))
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain(`set ${secret} in .env`)
  })

  it('keeps no secret in the file: every secret is a required reference to .env', () => {
    for (const secret of SECRETS) expect(COMPOSE).toMatch(new RegExp(`\\$\\{${secret}:\\?[^}]+\\}`))
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|TOKEN|SECRET/.test(key))
          expect(value, `${name}.${key}`).toMatch(/^(Token )?\$\{[A-Z_]+:\?/)
      }
    }
    expect(read('.gitignore')).toMatch(/^\.env$/m)
    for (const secret of SECRETS) expect(ENV_EXAMPLE).toMatch(new RegExp(`^${secret}=$`, 'm'))
  })

  it('runs InfluxDB 2.7 set up from the environment, on volumes, with a healthcheck', () => {
    const influx = service('influxdb')
    expect(influx.image).toBe('influxdb:2.7')
    expect(influx.environment?.DOCKER_INFLUXDB_INIT_MODE).toBe('setup')
    for (const key of ['USERNAME', 'PASSWORD', 'ORG', 'BUCKET', 'ADMIN_TOKEN']) {
      expect(influx.environment?.[`DOCKER_INFLUXDB_INIT_${key}`]).toMatch(/^\$\{/)
    }
    expect(influx.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/^influxdb-data:\/var\/lib\/influxdb2$/)]),
    )
    expect(influx.healthcheck?.test).toContain('ping')
  })

  it('runs a pinned Grafana provisioned with the datasource and the dashboards, after InfluxDB is healthy', () => {
    const grafana = service('grafana')
    expect(grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/)
    expect(grafana.depends_on?.influxdb?.condition).toBe('service_healthy')
    expect(grafana.healthcheck?.test.join(' ')).toContain('/api/health')
    const volumes = grafana.volumes ?? []
    expect(volumes).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro')
    const dashboardsMount = volumes.find((v) => v.startsWith('./dashboards/provisioning:'))
    const provider = z
      .object({
        providers: z.array(z.object({ type: z.literal('file'), options: z.object({ path: z.string() }) })),
      })
      .parse(parse(read('deploy/grafana/provisioning/dashboards/liftscale.yaml')))
    expect(dashboardsMount).toBe(`./dashboards/provisioning:${provider.providers[0]?.options.path}:ro`)
    expect(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${provider.providers[0]?.options.path}/fleet-overview.json`,
    )
    expect(existsSync(join(ROOT, 'dashboards/provisioning/fleet-overview.json'))).toBe(true)
  })

  it('provisions the InfluxQL datasource the dashboards name, with the token in the Authorization header', () => {
    const file = z
      .object({
        datasources: z.array(
          z.looseObject({
            uid: z.string(),
            type: z.string(),
            url: z.string(),
            jsonData: z.looseObject({ version: z.string(), dbName: z.string(), httpHeaderName1: z.string() }),
            secureJsonData: z.object({ httpHeaderValue1: z.string() }),
          }),
        ),
      })
      .parse(parse(read('deploy/grafana/provisioning/datasources/influxdb.yaml')))
    const ds = file.datasources[0]
    expect(ds?.uid).toBe(DATASOURCE.uid)
    expect(ds?.type).toBe(DATASOURCE.type)
    expect(ds?.url).toBe('http://influxdb:8086')
    expect(ds?.jsonData.version).toBe('InfluxQL')
    expect(ds?.jsonData.dbName).toBe(`\${INFLUX_BUCKET}`)
    expect(ds?.jsonData.httpHeaderName1).toBe('Authorization')
    expect(ds?.secureJsonData.httpHeaderValue1).toBe(`Token \${INFLUX_TOKEN}`)
    // Grafana reads these from its own environment.
    expect(Object.keys(service('grafana').environment ?? {})).toEqual(
      expect.arrayContaining(['INFLUX_TOKEN', 'INFLUX_BUCKET']),
    )
  })

  it('builds the platform from the Dockerfile, INFLUX_API=2, its data on a volume, with room for 50,000 devices', () => {
    const platform = service('platform')
    // The broker takes sockets up to the open-files limit less 1 % (broker/connection-cap.ts).
    const nofile = z
      .object({ nofile: z.object({ soft: z.number(), hard: z.number() }) })
      .parse(platform.ulimits)
    expect(nofile.nofile.soft * 0.99).toBeGreaterThan(50_000)
    expect(nofile.nofile.hard).toBeGreaterThanOrEqual(nofile.nofile.soft)
    expect(platform.build).toBe('.')
    expect(platform.environment?.INFLUX_API).toBe('2')
    expect(platform.environment?.DATA_DIR).toBe('/data')
    expect(platform.environment?.INFLUX_URL).toBe('http://influxdb:8086')
    expect(platform.depends_on?.influxdb?.condition).toBe('service_healthy')
    expect(platform.volumes).toContain('platform-data:/data')
    expect(Object.keys(compose.volumes)).toEqual(
      expect.arrayContaining(['platform-data', 'influxdb-data', 'grafana-data']),
    )
  })

  it('runs the simulators under the demo profile against the platform', () => {
    const sims = service('simulators')
    expect(sims.profiles).toEqual(['demo'])
    expect(sims.depends_on?.platform?.condition).toBe('service_healthy')
    expect(sims.command?.slice(0, 4)).toEqual(['npm', 'run', 'simulate', '--'])
    expect(sims.command).toEqual(
      expect.arrayContaining(['--url', 'mqtt://platform:1883', '--data-dir', '/data']),
    )
    expect(sims.volumes).toContain('platform-data:/data')
  })
})

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile')

  it('is multi-stage on node:20-bookworm-slim, installs from the lock file, runs as a user, checks /healthz', () => {
    expect([...dockerfile.matchAll(/^FROM node:20-bookworm-slim/gm)].length).toBeGreaterThanOrEqual(2)
    expect(dockerfile).toMatch(/^RUN npm ci\b/m)
    expect(dockerfile).toMatch(/^COPY --from=build /m)
    expect(dockerfile).toMatch(/^USER node$/m)
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m)
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m)
    // The command is npm start's, with the launcher in production dependencies.
    const pkg = z
      .object({ scripts: z.record(z.string(), z.string()), dependencies: z.record(z.string(), z.string()) })
      .parse(JSON.parse(read('package.json')))
    expect(pkg.scripts.start).toBe('tsx platform/main.ts')
    expect(dockerfile).toMatch(/^CMD \["node", "--import", "tsx", "platform\/main.ts"\]$/m)
    expect(Object.keys(pkg.dependencies)).toContain('tsx')
  })

  it('keeps secrets, data and local packages out of the build context', () => {
    const ignored = read('.dockerignore').split('\n')
    for (const entry of ['.env', 'node_modules', 'data', '.git']) expect(ignored).toContain(entry)
  })
})

describe('settings', () => {
  it('every variable docker-compose.yml and the Grafana provisioning files use is documented in .env.example', () => {
    const files = [
      COMPOSE,
      read('deploy/grafana/provisioning/datasources/influxdb.yaml'),
      read('deploy/grafana/provisioning/dashboards/liftscale.yaml'),
    ]
    // Comment lines may show the syntax (`${VAR:?...}`); only the settings count.
    const settings = files.map((text) => text.replace(/^\s*#.*$/gm, ''))
    const used = new Set(
      settings.flatMap((text) => [...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] ?? '')),
    )
    expect(used).toContain('INFLUX_TOKEN')
    const missing = [...used].filter((name) => !documented().has(name))
    expect(missing, 'add these to .env.example').toEqual([])
  })

  it('every setting the platform reads is set by docker-compose.yml or documented in .env.example', async () => {
    const keys = new Set<string>()
    // The schemas the all-in-one platform merges; split-process entry points (`*MainConfigSchema`)
    // have their own settings and are not deployed by compose.
    const modules = [
      'broker/config.ts',
      'ingest/config.ts',
      'alerts/config.ts',
      'alerts/api/config.ts',
      'alerts/notify/config.ts',
      'platform/config.ts',
    ]
    let schemas = 0
    for (const path of modules) {
      if (!existsSync(join(ROOT, path))) continue
      const mod: Record<string, unknown> = await import(join(ROOT, path))
      for (const [name, value] of Object.entries(mod)) {
        if (!(value instanceof z.ZodObject) || /Main/.test(name)) continue
        schemas++
        for (const key of Object.keys(value.shape)) keys.add(key)
      }
    }
    expect(schemas).toBeGreaterThanOrEqual(5)
    const set = new Set(Object.keys(service('platform').environment ?? {}))
    const missing = [...keys].filter((key) => !set.has(key) && !documented().has(key)).sort()
    expect(missing, 'document these platform settings in .env.example').toEqual([])
  })
})
