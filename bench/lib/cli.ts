/**
 * Command lines of the bench tools: node:util parseArgs, with `--help` printing the tool's usage and a
 * wrong option answered by what is wrong and the usage (exit 2), never a stack trace.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'

export function parseCli<C extends ParseArgsConfig>(
  config: C,
  usage: string,
): ReturnType<typeof parseArgs<C>> {
  const argv = config.args ?? process.argv.slice(2)
  if (argv.includes('--help')) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }
  try {
    return parseArgs(config)
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`)
    process.exit(2)
  }
}
