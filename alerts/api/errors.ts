/**
 * One error shape for every refusal: `{ error: { code, message, fields? } }`. Clients branch on
 * `code`; `fields` lists each failing field of a bad body or query.
 */
import { createReadStream, existsSync } from 'node:fs'
import type { FastifyError, FastifyInstance } from 'fastify'
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { isDomainError } from '../../domain/errors.ts'

export const FieldErrorSchema = z.object({
  /** Dotted path inside the part that failed: `registrationCode`, `types.0`; empty for the whole part. */
  path: z.string(),
  message: z.string(),
  /** Which part of the request: body, querystring, params, headers. */
  in: z.string().optional(),
})
export type FieldError = z.infer<typeof FieldErrorSchema>

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      fields: z.array(FieldErrorSchema).optional(),
    }),
  })
  .meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorBodySchema>

/** The refusals every /api route may answer with: bad input, no token, not allowed, not found. */
export const ERROR_RESPONSES = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  404: ErrorBodySchema,
}

/** HTTP status of each DomainError code the API can meet; anything else is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  INVALID_INPUT: 400,
  NOTE_REQUIRED: 400,
  WRONG_KIND: 400,
  UNKNOWN_REFERENCE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  INVALID_TRANSITION: 409,
  ALREADY_EXISTS: 409,
  VERIFICATION_OPEN: 409,
  NO_OPEN_VERIFICATION: 409,
  NOT_AVAILABLE: 503,
  NOT_STARTED: 503,
}

export function statusOfCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500
}

export function errorBody(code: string, message: string, fields?: FieldError[]): ErrorBody {
  return { error: fields && fields.length > 0 ? { code, message, fields } : { code, message } }
}

/** `registrationCode: must have 20 digits` -> { path, message }, as the registry words its problems. */
function fieldsFromProblems(problems: unknown): FieldError[] | undefined {
  if (!Array.isArray(problems)) return undefined
  return problems.map((p) => {
    const text = String(p)
    const at = text.indexOf(': ')
    return at > 0 ? { path: text.slice(0, at), message: text.slice(at + 2) } : { path: '', message: text }
  })
}

/**
 * Installs the error and not-found handlers on `app`. With `fallbackPage` (the console's index.html),
 * a GET for a page path outside /api gets that page, so the console's client-side routes load.
 */
export function installErrorHandling(app: FastifyInstance, options: { fallbackPage?: string } = {}): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext
      const fields = err.validation.map((v) => ({
        path: v.instancePath.replace(/^\//, '').replaceAll('/', '.'),
        message: v.message ?? 'invalid',
        ...(where ? { in: where } : {}),
      }))
      return reply.code(400).send(errorBody('INVALID_INPUT', `invalid ${where ?? 'request'}`, fields))
    }
    if (isDomainError(err)) {
      const status = statusOfCode(err.code)
      if (status >= 500) request.log.error({ err }, 'request failed')
      let fields = fieldsFromProblems(err.details?.problems)
      if (err.code === 'NOTE_REQUIRED') fields = [{ path: 'note', message: err.message, in: 'body' }]
      return reply
        .code(status)
        .send(errorBody(err.code, status >= 500 ? 'service unavailable' : err.message, fields))
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err, issues: err.cause.issues }, 'response does not match its schema')
      return reply.code(500).send(errorBody('INTERNAL', 'internal error'))
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500
    if (status >= 400 && status < 500) {
      // fastify's own refusals: bad JSON, empty body, body too large, wrong content type
      return reply.code(status).send(errorBody(err.code ?? 'BAD_REQUEST', err.message))
    }
    request.log.error({ err }, 'request failed')
    return reply.code(500).send(errorBody('INTERNAL', 'internal error'))
  })

  const { fallbackPage } = options
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    const isPage = request.method === 'GET' && !path.startsWith('/api/') && !/\.[a-z0-9]+$/i.test(path)
    if (fallbackPage && isPage && existsSync(fallbackPage)) {
      return reply.type('text/html; charset=utf-8').send(createReadStream(fallbackPage))
    }
    return reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${path}`))
  })
}
