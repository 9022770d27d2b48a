/**
 * Operator CLI for the dead-letter store (`npm run dead-letters -- …`):
 *
 *   list   [--reason R] [--device ID] [--limit N] [--before ID] [--json]   newest first
 *   counts [--json]                                                       rows kept, by reason
 *
 * Reads DATA_DIR like the services do.
 */
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { type DeadLetter, deadLetterFile, openDeadLetterStore } from './dead-letters.ts'

const CliConfigSchema = z.object({ DATA_DIR: z.string().default('./data') })

const USAGE = `usage: dead-letters list [--reason R] [--device ID] [--limit N] [--before ID] [--json]
       dead-letters counts [--json]`

function preview(d: DeadLetter): string {
  const text = d.payloadText ?? `hex:${d.payload.toString('hex')}`
  const cut = text.length > 160 ? `${text.slice(0, 160)}…` : text
  return d.isTruncated ? `${cut} (${d.payloadBytes} bytes, cut)` : cut
}

function main(): number {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      reason: { type: 'string' },
      device: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  const command = positionals[0]
  if (values.help || (command !== 'list' && command !== 'counts')) {
    console.error(USAGE)
    return values.help ? 0 : 2
  }
  const config = parseEnv(CliConfigSchema, process.env)
  const store = openDeadLetterStore(deadLetterFile(config.DATA_DIR))
  try {
    if (command === 'counts') {
      const counts = store.countByReason()
      if (values.json) console.log(JSON.stringify(counts))
      else for (const [reason, n] of Object.entries(counts)) console.log(`${reason}\t${n}`)
      return 0
    }
    const rows = store.list({
      reason: values.reason,
      deviceId: values.device,
      limit: values.limit === undefined ? 100 : Number(values.limit),
      before: values.before === undefined ? undefined : Number(values.before),
    })
    if (values.json) {
      console.log(
        JSON.stringify(
          rows.map((d) => ({ ...d, payload: d.payload.toString('base64') })),
          null,
          2,
        ),
      )
      return 0
    }
    for (const d of rows) {
      console.log(
        [
          d.id,
          new Date(d.at).toISOString(),
          d.reason,
          d.deviceId ?? '-',
          d.topic,
          d.message,
          preview(d),
        ].join('\t'),
      )
    }
    return 0
  } finally {
    store.close()
  }
}

try {
  process.exitCode = main()
} catch (err) {
  console.error(isDomainError(err) ? err.message : err)
  process.exitCode = 1
}
