/**
 * Builds the duty officers' console into a folder of static files (index.html, main.js, styles.css) that
 * the API serves at `/` (buildApp's `consoleDir`). esbuild bundles the TypeScript in well under 2 s;
 * nothing is fetched from a CDN at run time: the duty room may have no internet.
 *
 * `npm run console:build` writes console/dist/; tests build into a temp dir of their own.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const HERE = dirname(fileURLToPath(import.meta.url))
export const DEFAULT_OUT_DIR = join(HERE, 'dist')

export type ConsoleBuild = { outDir: string; files: Array<{ name: string; bytes: number }>; ms: number }

/** Bundles src/main.ts and src/styles.css and copies src/index.html into `outDir` (emptied first). */
export async function buildConsole(
  options: { outDir?: string; minify?: boolean } = {},
): Promise<ConsoleBuild> {
  const started = performance.now()
  const outDir = resolve(options.outDir ?? DEFAULT_OUT_DIR)
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  await build({
    entryPoints: [join(HERE, 'src/main.ts'), join(HERE, 'src/styles.css')],
    outdir: outDir,
    entryNames: '[name]',
    bundle: true,
    format: 'esm',
    // Browsers of the last few years (duty-room PCs, firms' phones); Chromium runs the tests.
    target: ['chrome109', 'edge109', 'firefox115', 'safari15.4'],
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'silent',
    charset: 'utf8',
  })
  copyFileSync(join(HERE, 'src/index.html'), join(outDir, 'index.html'))
  const files = readdirSync(outDir)
    .sort()
    .map((name) => ({ name, bytes: statSync(join(outDir, name)).size }))
  return { outDir, files, ms: Math.round(performance.now() - started) }
}

const isEntryPoint =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isEntryPoint) {
  buildConsole()
    .then((result) => {
      const list = result.files.map((f) => `${f.name} ${(f.bytes / 1024).toFixed(1)} KiB`).join(', ')
      process.stdout.write(`console built into ${result.outDir} in ${result.ms} ms: ${list}\n`)
    })
    .catch((err: unknown) => {
      process.stderr.write(`console build failed: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    })
}
