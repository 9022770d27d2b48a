/**
 * Writes the dashboards' JSON into dashboards/provisioning/, where Grafana's file provider reads it
 * (`npm run dashboards`). With --check it writes nothing and exits 1, naming each file that is out of
 * date with the TypeScript source (`npm run dashboards:check`, run by CI through build.test.ts).
 */
import { fileURLToPath } from 'node:url'
import { checkProvisioning, writeProvisioning } from './provisioning.ts'

const dir = fileURLToPath(new URL('./provisioning/', import.meta.url))

if (process.argv.includes('--check')) {
  const problems = checkProvisioning(dir)
  if (problems.length > 0) {
    for (const problem of problems) console.error(`${problem.file}: ${problem.reason}`)
    console.error(
      'dashboards are out of date with dashboards/*.ts: run `npm run dashboards` and commit the JSON',
    )
    process.exit(1)
  }
  console.log('dashboards/provisioning is up to date')
} else {
  for (const file of writeProvisioning(dir)) console.log(`wrote ${file}`)
}
