/**
 * Writing and checking the provisioning folder, apart from the entry point so that a test can run both.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DASHBOARDS, renderDashboard } from './dashboards.ts'

export type Problem = { file: string; reason: 'missing' | 'differs' | 'not generated' }

/** Every file that does not match the source, and JSON files that no dashboard generates. */
export function checkProvisioning(dir: string): Problem[] {
  const problems: Problem[] = []
  for (const source of DASHBOARDS) {
    const path = join(dir, source.file)
    if (!existsSync(path)) problems.push({ file: source.file, reason: 'missing' })
    else if (readFileSync(path, 'utf8') !== renderDashboard(source))
      problems.push({ file: source.file, reason: 'differs' })
  }
  const expected = new Set(DASHBOARDS.map((d) => d.file))
  if (existsSync(dir)) {
    for (const file of readdirSync(dir)) {
      if (file.endsWith('.json') && !expected.has(file)) problems.push({ file, reason: 'not generated' })
    }
  }
  return problems
}

/** Writes every dashboard and removes JSON files no dashboard generates; returns the files written. */
export function writeProvisioning(dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  const expected = new Set(DASHBOARDS.map((d) => d.file))
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.json') && !expected.has(file)) unlinkSync(join(dir, file))
  }
  for (const source of DASHBOARDS) writeFileSync(join(dir, source.file), renderDashboard(source))
  return DASHBOARDS.map((d) => d.file)
}
