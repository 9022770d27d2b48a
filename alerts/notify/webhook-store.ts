/**
 * Webhook subscriptions and the durable delivery queue, in their own SQLite file
 * (DATA_DIR/notifications.db): a restart resumes pending deliveries, and the per-attempt log
 * shows a duty room why its robot stayed silent.
 */
import { randomUUID } from 'node:crypto'
import { chmodSync } from 'node:fs'
import { z } from 'zod'
import {
  ALERT_SEVERITIES,
  type AlertChange,
  AlertChangeSchema,
  type AlertSeverity,
  AlertSeveritySchema,
} from '../../domain/alert-change.ts'
import { DomainError } from '../../domain/errors.ts'
import { DEVICE_ID_PATTERN } from '../../domain/topics.ts'
import { type Migration, openSqlite, type SqliteDatabase, sqlWhere } from '../../registry/sqlite.ts'
import { type MessageExtra, WEBHOOK_FORMATS, type WebhookFormat } from './formats.ts'

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  format TEXT NOT NULL,
  min_severity TEXT NOT NULL,
  types TEXT,          -- JSON array, NULL = every type
  transitions TEXT,    -- JSON array, NULL = every transition but 'repeated'
  tenant_id TEXT,      -- NULL = every tenant
  secret TEXT,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER   -- kept, so the delivery log of a removed subscription still reads
);

CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id),
  alert_id TEXT NOT NULL,
  transition TEXT NOT NULL,
  change TEXT NOT NULL,  -- the AlertChange, JSON
  extra TEXT NOT NULL,   -- MessageExtra, JSON
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  finished_at INTEGER,
  last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_alert ON deliveries(alert_id);
CREATE INDEX deliveries_finished ON deliveries(finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE delivery_attempts (
  delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
`,
  },
]

const MessageExtraSchema = z.object({ title: z.string().nullable(), arriveDeadline: z.number().nullable() })

export function severityRank(severity: AlertSeverity): number {
  return ALERT_SEVERITIES.indexOf(severity)
}

export const WebhookInputSchema = z.object({
  name: z.string().trim().min(1).max(200),
  url: z.url({ protocol: /^https?$/ }).max(2000),
  format: z.enum(WEBHOOK_FORMATS).default('generic'),
  /** Changes of alerts below this severity are not sent. */
  minSeverity: AlertSeveritySchema.default('warning'),
  /** Only these alert types (unset: all). */
  types: z.array(z.string().min(1).max(64)).min(1).max(100).nullish(),
  /** Only these transitions (unset: all but `repeated`, which a flapping condition would flood). */
  transitions: z.array(z.string().min(1).max(64)).min(1).max(50).nullish(),
  /** Only alerts of this tenant's devices (unset: every tenant). */
  tenantId: z.string().regex(DEVICE_ID_PATTERN).nullish(),
  /**
   * generic: HMAC-SHA256 key of the signature header; dingtalk: the robot's 加签 secret (SEC…).
   * Stored to sign each attempt, never returned.
   */
  secret: z.string().min(8).max(500).nullish(),
  enabled: z.boolean().default(true),
})
export type WebhookInput = z.input<typeof WebhookInputSchema>

export type WebhookSubscription = {
  id: string
  name: string
  url: string
  format: WebhookFormat
  minSeverity: AlertSeverity
  types: string[] | null
  transitions: string[] | null
  tenantId: string | null
  hasSecret: boolean
  enabled: boolean
  createdAt: number
}

/** The subscription with its secret, for the sender only. */
export type WebhookTarget = WebhookSubscription & { secret: string | null }

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

export type Delivery = {
  id: number
  webhookId: string
  alertId: string
  transition: string
  status: DeliveryStatus
  attempts: number
  createdAt: number
  nextAttemptAt: number | null
  lastAttemptAt: number | null
  finishedAt: number | null
  lastError: string | null
}

export type DeliveryAttempt = {
  attempt: number
  at: number
  statusCode: number | null
  error: string | null
  durationMs: number
}

/** A pending delivery as the sender needs it. */
export type DueDelivery = {
  id: number
  webhookId: string
  change: AlertChange
  extra: MessageExtra
  attempts: number
  createdAt: number
}

type Row = Record<string, unknown>

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

const StringListSchema = z.array(z.string())
function listOrNull(v: unknown): string[] | null {
  if (v === null || v === undefined) return null
  const parsed = StringListSchema.safeParse(JSON.parse(String(v)))
  return parsed.success ? parsed.data : null
}

function toTarget(r: Row): WebhookTarget {
  const format = z.enum(WEBHOOK_FORMATS).catch('generic').parse(r.format)
  return {
    id: String(r.id),
    name: String(r.name),
    url: String(r.url),
    format,
    minSeverity: AlertSeveritySchema.catch('warning').parse(r.min_severity),
    types: listOrNull(r.types),
    transitions: listOrNull(r.transitions),
    tenantId: strOrNull(r.tenant_id),
    hasSecret: r.secret !== null,
    enabled: r.enabled === 1,
    createdAt: Number(r.created_at),
    secret: strOrNull(r.secret),
  }
}

export function publicSubscription(target: WebhookTarget): WebhookSubscription {
  const { secret: _secret, ...rest } = target
  return rest
}

function toDelivery(r: Row): Delivery {
  const status = z.enum(DELIVERY_STATUSES).parse(r.status)
  return {
    id: Number(r.id),
    webhookId: String(r.webhook_id),
    alertId: String(r.alert_id),
    transition: String(r.transition),
    status,
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    nextAttemptAt: status === 'pending' ? Number(r.next_attempt_at) : null,
    lastAttemptAt: numOrNull(r.last_attempt_at),
    finishedAt: numOrNull(r.finished_at),
    lastError: strOrNull(r.last_error),
  }
}

export type DeliveryFilter = {
  webhookId?: string
  alertId?: string
  status?: DeliveryStatus
  limit: number
  /** Deliveries with an id below this (the previous page's last id). */
  before?: number
}

export type WebhookStore = ReturnType<typeof openWebhookStore>

/** Opens (and migrates) the store; the returned object owns one connection: `close()` it. */
export function openWebhookStore(file: string, now: () => number = Date.now) {
  const db: SqliteDatabase = openSqlite(file, MIGRATIONS)
  // Webhook secrets are kept to sign each attempt (and robot URLs carry their keys): owner only.
  if (file !== ':memory:') chmodSync(file, 0o600)

  const stmt = {
    insertDelivery: db.prepare(
      `INSERT INTO deliveries (webhook_id, alert_id, transition, change, extra, status, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    ),
    getTarget: db.prepare('SELECT * FROM webhooks WHERE id = ?'),
    activeTargets: db.prepare('SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id'),
    due: db.prepare(
      `SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?
         AND id NOT IN (SELECT value FROM json_each(?))
         AND webhook_id NOT IN (SELECT value FROM json_each(?))
       ORDER BY next_attempt_at, id LIMIT ?`,
    ),
    nextDue: db.prepare(
      `SELECT min(next_attempt_at) AS t FROM deliveries WHERE status = 'pending'
         AND id NOT IN (SELECT value FROM json_each(?))
         AND webhook_id NOT IN (SELECT value FROM json_each(?))`,
    ),
    insertAttempt: db.prepare(
      'INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    depth: db.prepare("SELECT count(*) AS n FROM deliveries WHERE status = 'pending'"),
  }

  return {
    db,

    createSubscription(input: WebhookInput): WebhookSubscription {
      const parsed = WebhookInputSchema.safeParse(input)
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`)
        throw new DomainError('INVALID_INPUT', problems.join('; '), { details: { problems } })
      }
      const w = parsed.data
      const id = `wh-${randomUUID().slice(0, 8)}`
      db.prepare(
        `INSERT INTO webhooks (id, name, url, format, min_severity, types, transitions, tenant_id, secret, enabled, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        w.name,
        w.url,
        w.format,
        w.minSeverity,
        w.types ? JSON.stringify(w.types) : null,
        w.transitions ? JSON.stringify(w.transitions) : null,
        w.tenantId ?? null,
        w.secret ?? null,
        w.enabled ? 1 : 0,
        now(),
      )
      const row = stmt.getTarget.get(id) as Row
      return publicSubscription(toTarget(row))
    },

    /** Subscriptions not deleted, with their secrets (for the sender). */
    activeTargets(): WebhookTarget[] {
      return (stmt.activeTargets.all() as Row[]).map(toTarget)
    },

    /** A subscription even if deleted (its deliveries still need a name); null when unknown. */
    getTarget(id: string): (WebhookTarget & { deleted: boolean }) | null {
      const row = stmt.getTarget.get(id) as Row | undefined
      return row ? { ...toTarget(row), deleted: row.deleted_at !== null } : null
    },

    /** Deletes a subscription; its pending deliveries are given up, its log is kept. */
    deleteSubscription(id: string): void {
      const t = now()
      db.transaction(() => {
        const info = db
          .prepare('UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL')
          .run(t, id)
        if (info.changes === 0) throw new DomainError('NOT_FOUND', `no webhook ${id}`)
        db.prepare(
          `UPDATE deliveries SET status = 'failed', finished_at = ?, last_error = 'subscription deleted'
           WHERE webhook_id = ? AND status = 'pending'`,
        ).run(t, id)
      })()
    },

    /** Queues one delivery per target, in one transaction: a synchronous insert, no network. */
    enqueue(targets: readonly WebhookTarget[], change: AlertChange, extra: MessageExtra): number[] {
      if (targets.length === 0) return []
      const t = now()
      const json = JSON.stringify(change)
      const extraJson = JSON.stringify(extra)
      return db.transaction(() =>
        targets.map((target) =>
          Number(
            stmt.insertDelivery.run(target.id, change.alertId, change.transition, json, extraJson, t, t)
              .lastInsertRowid,
          ),
        ),
      )()
    },

    /** Pending deliveries due now, oldest first, skipping those in flight and those of busy receivers. */
    due(limit: number, inFlight: ReadonlySet<number>, busyWebhooks: ReadonlySet<string>): DueDelivery[] {
      const rows = stmt.due.all(
        now(),
        JSON.stringify([...inFlight]),
        JSON.stringify([...busyWebhooks]),
        limit,
      ) as Row[]
      const out: DueDelivery[] = []
      for (const r of rows) {
        const change = AlertChangeSchema.safeParse(JSON.parse(String(r.change)))
        const extra = MessageExtraSchema.safeParse(JSON.parse(String(r.extra)))
        if (!change.success || !extra.success) {
          // Written by this module from a valid change; only a hand-edited file gets here.
          db.prepare(
            "UPDATE deliveries SET status = 'failed', finished_at = ?, last_error = 'stored change unreadable' WHERE id = ?",
          ).run(now(), r.id)
          continue
        }
        out.push({
          id: Number(r.id),
          webhookId: String(r.webhook_id),
          change: change.data,
          extra: extra.data,
          attempts: Number(r.attempts),
          createdAt: Number(r.created_at),
        })
      }
      return out
    },

    /** When the next pending delivery (not in flight, receiver not busy) is due; null when none. */
    nextDueAt(inFlight: ReadonlySet<number>, busyWebhooks: ReadonlySet<string>): number | null {
      const row = stmt.nextDue.get(JSON.stringify([...inFlight]), JSON.stringify([...busyWebhooks])) as Row
      return numOrNull(row.t)
    },

    /** Logs one attempt and moves the delivery on: delivered, retried at `retryAt`, or failed. */
    recordAttempt(
      delivery: { id: number; attempts: number },
      attempt: { at: number; statusCode: number | null; error: string | null; durationMs: number },
      outcome: { status: 'delivered' } | { status: 'pending'; retryAt: number } | { status: 'failed' },
    ): void {
      const n = delivery.attempts + 1
      db.transaction(() => {
        stmt.insertAttempt.run(
          delivery.id,
          n,
          attempt.at,
          attempt.statusCode,
          attempt.error,
          Math.round(attempt.durationMs),
        )
        db.prepare(
          `UPDATE deliveries SET attempts = ?, last_attempt_at = ?, last_error = ?, status = ?,
             next_attempt_at = ?, finished_at = ? WHERE id = ?`,
        ).run(
          n,
          attempt.at,
          attempt.error,
          outcome.status,
          outcome.status === 'pending' ? outcome.retryAt : attempt.at,
          outcome.status === 'pending' ? null : now(),
          delivery.id,
        )
      })()
    },

    /** Gives a delivery up without an attempt (its subscription went away). */
    abandon(id: number, reason: string): void {
      db.prepare(
        "UPDATE deliveries SET status = 'failed', finished_at = ?, last_error = ? WHERE id = ? AND status = 'pending'",
      ).run(now(), reason, id)
    },

    listDeliveries(filter: DeliveryFilter): Delivery[] {
      // An empty id or status filters nothing (`?webhook=` in the API's query string).
      const { clause, args } = sqlWhere([
        ['webhook_id = ?', filter.webhookId || undefined],
        ['alert_id = ?', filter.alertId || undefined],
        ['status = ?', filter.status || undefined],
        ['id < ?', filter.before],
      ])
      const sql = `SELECT * FROM deliveries ${clause} ORDER BY id DESC LIMIT ?`
      return (db.prepare(sql).all(...args, filter.limit) as Row[]).map(toDelivery)
    },

    getDelivery(id: number): (Delivery & { attemptLog: DeliveryAttempt[] }) | null {
      const row = db.prepare('SELECT * FROM deliveries WHERE id = ?').get(id) as Row | undefined
      if (!row) return null
      const attempts = (
        db.prepare('SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt').all(id) as Row[]
      ).map((a) => ({
        attempt: Number(a.attempt),
        at: Number(a.at),
        statusCode: numOrNull(a.status_code),
        error: strOrNull(a.error),
        durationMs: Number(a.duration_ms),
      }))
      return { ...toDelivery(row), attemptLog: attempts }
    },

    pendingCount(): number {
      return Number((stmt.depth.get() as Row).n)
    },

    /** Drops finished deliveries (and their attempts) finished before `before`. */
    prune(before: number): number {
      return db
        .prepare('DELETE FROM deliveries WHERE finished_at IS NOT NULL AND finished_at < ?')
        .run(before).changes
    },

    close(): void {
      if (db.open) db.close()
    },
  }
}
