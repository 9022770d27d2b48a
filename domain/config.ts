import { z } from 'zod'
import { DomainError } from './errors.ts'

/**
 * Parses settings from an environment map with a zod schema, once, at start.
 * On failure the error lists every problem as `NAME: message`, so an operator fixes them all in one go.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.output<S> {
  // Empty strings mean "not set": compose files and shells export VAR= for unset values.
  const cleaned: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value
  }
  const result = schema.safeParse(cleaned)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`)
  throw new DomainError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  })
}

/** Shared field parsers for env schemas. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  nonNegativeInt: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  positiveNumber: (fallback: number) => z.coerce.number().positive().default(fallback),
  boolean: (fallback: boolean) =>
    z
      .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on'),
  url: () => z.url({ protocol: /^https?$/ }),
  list: () =>
    z.string().transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    ),
}
