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

/** The first positional argument (a file), or the usage and exit 2. */
export function requiredPositional(positionals: string[], usage: string): string {
  const first = positionals[0]
  if (first !== undefined) return first
  process.stderr.write(`${usage}\n`)
  process.exit(2)
}

/** An option's value as a whole number above 0, or what is wrong, the usage and exit 2. */
export function countOption(name: string, value: string, usage: string): number {
  const n = Number(value)
  if (Number.isInteger(n) && n > 0) return n
  process.stderr.write(`--${name} must be a whole number above 0, not ${JSON.stringify(value)}\n${usage}\n`)
  process.exit(2)
}
